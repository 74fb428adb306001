package tests

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/atgt/atgt/tests/initiator"
)

// lunState is what the test reads of `atgtctl -o json luns`.
type lunState struct {
	ID     uint64 `json:"id"`
	Path   string `json:"path"`
	State  string `json:"state"`
	Reason string `json:"reason"`
}

// lunStates returns the LUNs atgtctl lists, by id.
func lunStates(t *testing.T, d *daemon, sock string) map[uint64]lunState {
	t.Helper()
	var luns []lunState
	if err := json.Unmarshal([]byte(d.mustCtl(t, sock, "-o", "json", "luns")), &luns); err != nil {
		t.Fatal(err)
	}
	m := map[uint64]lunState{}
	for _, l := range luns {
		m[l.ID] = l
	}
	return m
}

// wantSense checks that err is CHECK CONDITION with the sense key, ASC and ASCQ.
func wantSense(t *testing.T, what string, err error, key, asc, ascq uint8) {
	t.Helper()
	var se *initiator.SCSIError
	if !errors.As(err, &se) || se.Key() != key || se.ASC() != asc || se.ASCQ() != ascq {
		t.Errorf("%s: %v; want CHECK CONDITION %x/%02x/%02x", what, err, key, asc, ascq)
	}
}

// TestMissingStoreServedLater: a LUN whose store (served before, so recorded in
// served-stores.json) is missing at a start does not fail it. atgtd starts, warns
// naming the target, LUN and path; LUN 0 serves reads and writes; LUN 1 is listed by
// REPORT LUNS, answers INQUIRY (peripheral qualifier connected) and NOT READY, MANUAL
// INTERVENTION REQUIRED (04/03) to TEST UNIT READY, READ and READ CAPACITY; `atgtctl
// luns` shows it missing with its path and reason, and atgt_lun_online is 0 for it.
// A config save meanwhile (a lun add) keeps it exactly as written. Once the file is
// back, within two recheck intervals, LUN 1 serves (after the power-on unit
// attention of a new logical unit) the data the file holds, atgtctl shows it online
// and atgt_lun_online is 1.
func TestMissingStoreServedLater(t *testing.T) {
	const iqn = "iqn.2026-11.dev.atgt:missing"
	dataDir := t.TempDir()
	cfgPath := filepath.Join(t.TempDir(), "atgt.json")
	// As a save writes it (protojson: a uint64 as a string), to compare it whole.
	lun1 := `{"id": "1", "path": "b.img", "sizeBytes": "1048576", "writeCache": false}`
	writeFile0600(t, cfgPath, `{"portals": ["127.0.0.1:0"], "dataDir": "`+dataDir+`",
  "targets": [{"name": "`+iqn+`", "luns": [{"id": 0, "path": "a.img", "sizeBytes": "1048576"},
    `+lun1+`]}]}`)
	sock := filepath.Join(dataDir, "atgtd.sock")
	d := startDaemonArgs(t, "-config", cfgPath)
	d.stop(t)
	d.stopped = true
	rec, err := os.ReadFile(filepath.Join(dataDir, "served-stores.json"))
	if err != nil || !strings.Contains(string(rec), filepath.Join(dataDir, "b.img")) {
		t.Fatalf("served-stores.json does not record b.img (%v):\n%s", err, rec)
	}

	// b.img is away at the next start (its filesystem not mounted yet); what it
	// holds is known.
	content := bytes.Repeat([]byte("missing store "), 512/14+1)[:512]
	moved := filepath.Join(dataDir, "b.img.moved")
	if err := os.Rename(filepath.Join(dataDir, "b.img"), moved); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(moved, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(content, 0); err != nil {
		t.Fatal(err)
	}
	f.Close()

	d = startDaemonArgs(t, "-config", cfgPath, "-metrics", "127.0.0.1:0", "-log-level", "info")
	if !d.waitStderr("the LUN's store is missing") {
		t.Fatalf("no warning of the missing store:\n%s", d.stderr)
	}
	for _, line := range strings.Split(d.stderr.String(), "\n") {
		if strings.Contains(line, "the LUN's store is missing") &&
			(!strings.Contains(line, iqn) || !strings.Contains(line, "lun=1") || !strings.Contains(line, "b.img")) {
			t.Errorf("the warning does not name the target, LUN and path: %s", line)
		}
	}
	if _, err := os.Stat(filepath.Join(dataDir, "b.img")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the start created the missing store (stat: %v)", err)
	}

	s, err := initiator.Dial(d.addr, initiator.Options{InitiatorName: "iqn.2026-11.dev.atgt:vm", TargetName: iqn,
		Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.TestUnitReady(0) // the power-on unit attention
	if err := s.TestUnitReady(0); err != nil {
		t.Fatalf("LUN 0: %v", err)
	}
	block := bytes.Repeat([]byte{0xa5}, 512)
	if err := s.Write(0, 3, block, 512, false); err != nil {
		t.Fatalf("LUN 0 write: %v", err)
	}
	if got, err := s.Read(0, 3, 1, 512); err != nil || !bytes.Equal(got, block) {
		t.Fatalf("LUN 0 read: %v, data equal %v", err, bytes.Equal(got, block))
	}
	luns, err := s.ReportLUNs(0)
	if err != nil || !slices.Equal(luns, []uint64{0, 1}) {
		t.Errorf("REPORT LUNS: %v, %v; want [0 1]", luns, err)
	}
	inq, err := s.Inquiry(1)
	if err != nil || len(inq) < 36 || inq[0] != 0x00 {
		t.Errorf("INQUIRY of the missing LUN: %v, % x; want GOOD, qualifier 000b, type 0", err, inq[:min(len(inq), 8)])
	}
	wantSense(t, "TEST UNIT READY of the missing LUN", s.TestUnitReady(1), 2, 0x04, 0x03)
	_, err = s.Read(1, 0, 1, 512)
	wantSense(t, "READ of the missing LUN", err, 2, 0x04, 0x03)
	_, _, err = s.ReadCapacity16(1)
	wantSense(t, "READ CAPACITY of the missing LUN", err, 2, 0x04, 0x03)

	st := lunStates(t, d, sock)
	if l := st[1]; l.State != "missing" || !strings.HasSuffix(l.Path, "/b.img") || !strings.Contains(l.Reason, "does not exist") {
		t.Errorf("atgtctl luns shows LUN 1 as %+v; want missing, path b.img, a reason", l)
	}
	if st[0].State != "online" {
		t.Errorf("atgtctl luns shows LUN 0 as %+v; want online", st[0])
	}
	if out := d.mustCtl(t, sock, "luns"); !strings.Contains(out, "missing") || !strings.Contains(out, "does not exist") {
		t.Errorf("atgtctl luns (table) does not show the missing LUN and why:\n%s", out)
	}
	url := metricsURL(t, d)
	online := func(id string) string {
		return `atgt_lun_online{initiator="",lun="` + id + `",target="` + iqn + `"}`
	}
	m := scrape(t, url)
	m.want(t, online("0"), 1)
	m.want(t, online("1"), 0)

	// A change saves the config: the missing LUN stays exactly as written.
	d.mustCtl(t, sock, "lun", "add", "-target", iqn, "-id", "2", "-path", "c.img", "-size", "1048576")
	saved, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Targets []struct {
			Luns []json.RawMessage `json:"luns"`
		} `json:"targets"`
	}
	if err := json.Unmarshal(saved, &cfg); err != nil || len(cfg.Targets) != 1 || len(cfg.Targets[0].Luns) != 3 {
		t.Fatalf("saved config (%v):\n%s", err, saved)
	}
	var was, now any
	json.Unmarshal([]byte(lun1), &was)
	json.Unmarshal(cfg.Targets[0].Luns[1], &now)
	if wb, _ := json.Marshal(was); !bytes.Equal(wb, mustJSON(t, now)) {
		t.Errorf("the saved config changed the missing LUN: %s, want %s", cfg.Targets[0].Luns[1], lun1)
	}
	if st := lunStates(t, d, sock); st[1].State != "missing" || st[2].State != "online" {
		t.Errorf("after lun add: LUN 1 %+v, LUN 2 %+v; want missing and online", st[1], st[2])
	}

	// The store comes back (its filesystem mounted): LUN 1 serves within the
	// second recheck (two looks see the file unchanged), with what the file holds.
	if err := os.Rename(moved, filepath.Join(dataDir, "b.img")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second) // two looks 5 s apart see the file unchanged
	var ended error
	for {
		ended = s.TestUnitReady(1)
		var se *initiator.SCSIError
		if ended == nil || !errors.As(ended, &se) || se.ASC() != 0x04 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("LUN 1 still answers %v 20 s after its store came back", ended)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// A new logical unit to the initiator: POWER ON, RESET, OR BUS DEVICE RESET
	// OCCURRED on its first command, then GOOD.
	wantSense(t, "the first command once online", ended, 6, 0x29, 0x00)
	if err := s.TestUnitReady(1); err != nil {
		t.Fatalf("LUN 1 online: %v", err)
	}
	if !d.waitStderr("serving it") {
		t.Errorf("no info line says the LUN came online")
	}
	if got, err := s.Read(1, 0, 1, 512); err != nil || !bytes.Equal(got, content) {
		t.Fatalf("LUN 1 read once online: %v; data %q, want %q", err, got, content)
	}
	if err := s.Write(1, 5, block, 512, false); err != nil {
		t.Fatalf("LUN 1 write once online: %v", err)
	}
	// writeCache false: the write is in the file before GOOD.
	if b, err := os.ReadFile(filepath.Join(dataDir, "b.img")); err != nil || len(b) < 6*512 || !bytes.Equal(b[5*512:6*512], block) {
		t.Errorf("the write to LUN 1 is not in b.img (%v)", err)
	}
	if blocks, _, err := s.ReadCapacity16(1); err != nil || blocks != 2048 {
		t.Errorf("READ CAPACITY once online: %d blocks, %v; want 2048", blocks, err)
	}
	if st := lunStates(t, d, sock); st[1].State != "online" || st[1].Reason != "" {
		t.Errorf("atgtctl luns shows LUN 1 as %+v once online", st[1])
	}
	scrape(t, url).want(t, online("1"), 1)
}

// mustJSON marshals v.
func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
