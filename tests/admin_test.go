package tests

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atgt/atgt/messages/scsi"
	"github.com/atgt/atgt/tests/initiator"
)

// atgtctlBin is cmd/atgtctl, built once by atgtctl().
var (
	atgtctlOnce sync.Once
	atgtctlPath string
	atgtctlErr  error
)

// atgtctl builds cmd/atgtctl (once) beside the daemon under test.
func atgtctl(t testing.TB) string {
	t.Helper()
	atgtctlOnce.Do(func() {
		atgtctlPath = filepath.Join(filepath.Dir(atgtdBin), "atgtctl")
		atgtctlErr = buildCommand("./cmd/atgtctl", atgtctlPath)
	})
	if atgtctlErr != nil {
		t.Fatalf("build atgtctl: %v", atgtctlErr)
	}
	return atgtctlPath
}

// ctl runs atgtctl against the daemon's socket and returns stdout, stderr and the
// exit code.
func (d *daemon) ctl(t testing.TB, socket string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(atgtctl(t), append([]string{"-socket", socket}, args...)...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("atgtctl: %v", err)
	}
	t.Logf("$ atgtctl %s  (exit %d)\n%s%s", strings.Join(args, " "), code, out.String(), errb.String())
	return out.String(), errb.String(), code
}

// mustCtl runs atgtctl and fails the test unless it exits 0.
func (d *daemon) mustCtl(t testing.TB, socket string, args ...string) string {
	t.Helper()
	out, errOut, code := d.ctl(t, socket, args...)
	if code != 0 {
		t.Fatalf("atgtctl %s: exit %d: %s", strings.Join(args, " "), code, errOut)
	}
	return out
}

// ctlLun is one element of `atgtctl -o json luns`.
type ctlLun struct {
	Target    string `json:"target"`
	ID        uint64 `json:"id"`
	Path      string `json:"path"`
	SizeBytes uint64 `json:"sizeBytes"`
	IoPolicy  string `json:"ioPolicy"`
}

// ctlSession is one element of `atgtctl -o json sessions`.
type ctlSession struct {
	Initiator string `json:"initiator"`
	Target    string `json:"target"`
	TSIH      uint32 `json:"tsih"`
}

// TestAtgtctlLive drives the real atgtd with atgtctl while initiators stay logged in:
// a LUN added is seen at once by iscsi-ls and iscsi-inq, and the logged-in session
// gets REPORTED LUNS DATA HAS CHANGED; a resize shows in iscsi-readcapacity16 and
// the session gets CAPACITY DATA HAS CHANGED; `session logout` ends a libiscsi
// session (iscsi-perf, which logs out when asked and logs in again as a new
// session); the config file written by the changes restarts into the same LUNs; and
// `config apply` of a file twice changes something once, nothing the second time.
func TestAtgtctlLive(t *testing.T) {
	lsTool := requireLibiscsi(t, "iscsi-ls")
	requireLibiscsi(t, "iscsi-inq")
	requireLibiscsi(t, "iscsi-readcapacity16")
	perf := requireLibiscsi(t, "iscsi-perf")
	dataDir := t.TempDir()
	d := startDaemon(t, "-data", dataDir)
	sock := filepath.Join(dataDir, "atgtd.sock")

	var luns []ctlLun
	if err := json.Unmarshal([]byte(d.mustCtl(t, sock, "-o", "json", "luns")), &luns); err != nil {
		t.Fatal(err)
	}
	if len(luns) != 1 || luns[0].Target != defaultIQN || luns[0].ID != 0 || luns[0].SizeBytes != 1<<30 ||
		luns[0].Path != filepath.Join(dataDir, "lun0.img") || luns[0].IoPolicy != "threaded" {
		t.Fatalf("luns: %+v", luns)
	}

	// A Go initiator session stays logged in through the changes.
	s, err := initiator.Dial(d.addr, initiator.Options{InitiatorName: "iqn.2026-11.dev.atgt:watcher", TargetName: defaultIQN,
		Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	clearUA(t, s, 0)

	lunPath := filepath.Join(t.TempDir(), "added.img")
	d.mustCtl(t, sock, "lun", "add", "-target", defaultIQN, "-id", "1", "-path", lunPath, "-size", "67108864")
	out, err := runTool(t, 30*time.Second, lsTool, "-s", "iscsi://"+d.addr)
	if err != nil || !strings.Contains(out, "Lun:1") {
		t.Fatalf("iscsi-ls after lun add: %v\n%s", err, out)
	}
	if out, err := runTool(t, 30*time.Second, "iscsi-inq", d.url(defaultIQN, 1)); err != nil || !strings.Contains(out, "Vendor:") {
		t.Fatalf("iscsi-inq of the new LUN: %v\n%s", err, out)
	}
	expectUA(t, s, 0, 0x3F, 0x0E)

	d.mustCtl(t, sock, "lun", "resize", "-target", defaultIQN, "-id", "1", "-size", "134217728")
	out, err = runTool(t, 30*time.Second, "iscsi-readcapacity16", d.url(defaultIQN, 1))
	if err != nil || !strings.Contains(out, "Total size:134217728") {
		t.Fatalf("iscsi-readcapacity16 after the resize: %v\n%s", err, out)
	}
	clearUA(t, s, 1) // a new LUN to this nexus: POWER ON first
	if err := s.TestUnitReady(1); err != nil {
		t.Fatalf("TEST UNIT READY after clearing: %v", err)
	}
	d.mustCtl(t, sock, "lun", "resize", "-target", defaultIQN, "-id", "1", "-size", "268435456")
	expectUA(t, s, 1, 0x2A, 0x09)
	if blocks, _, err := s.ReadCapacity16(1); err != nil || blocks != 268435456/512 {
		t.Fatalf("READ CAPACITY(16) in the session that stayed: %d, %v", blocks, err)
	}

	// Errors name the object, with exit code 1; a usage error exits 2.
	if _, errOut, code := d.ctl(t, sock, "lun", "rm", "-target", defaultIQN, "-id", "9"); code != 1 ||
		!strings.Contains(errOut, "lun 9 of "+defaultIQN+": no such LUN") {
		t.Fatalf("lun rm of a missing LUN: exit %d, %q", code, errOut)
	}
	if _, _, code := d.ctl(t, sock, "lun", "frobnicate"); code != 2 {
		t.Fatalf("unknown subcommand: exit %d, want 2", code)
	}

	// session logout ends a libiscsi session.
	perfDone := make(chan string, 1)
	go func() {
		out, _ := runTool(t, 30*time.Second, perf, "-t", "6", "-i", "iqn.2026-11.dev.atgt:perf", d.url(defaultIQN, 0))
		perfDone <- out
	}()
	var tsih uint32
	for deadline := time.Now().Add(10 * time.Second); tsih == 0 && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		for _, se := range sessionsOf(t, d, sock) {
			if se.Initiator == "iqn.2026-11.dev.atgt:perf" {
				tsih = se.TSIH
			}
		}
	}
	if tsih == 0 {
		t.Fatal("iscsi-perf's session never appeared in atgtctl sessions")
	}
	d.mustCtl(t, sock, "session", "logout", fmt.Sprint(tsih), "-grace", "3")
	for _, se := range sessionsOf(t, d, sock) {
		if se.TSIH == tsih {
			t.Fatalf("session %d still listed after session logout", tsih)
		}
	}
	<-perfDone

	// The saved config restarts into the same LUNs.
	wantLuns := d.mustCtl(t, sock, "-o", "json", "luns")
	s.Close()
	d.stop(t)
	d.stopped = true
	if _, err := os.Stat(filepath.Join(dataDir, "atgt.json")); err != nil {
		t.Fatalf("no config saved: %v", err)
	}
	d2 := startDaemon(t, "-data", dataDir)
	if got := d2.mustCtl(t, sock, "-o", "json", "luns"); got != wantLuns {
		t.Fatalf("after the restart:\n%s\nwant\n%s", got, wantLuns)
	}

	// config apply: a file without LUN 1, applied twice.
	shown := d2.mustCtl(t, sock, "config", "show")
	var cfg map[string]any
	if err := json.Unmarshal([]byte(shown), &cfg); err != nil {
		t.Fatalf("config show is not JSON: %v\n%s", err, shown)
	}
	tg := cfg["targets"].([]any)[0].(map[string]any)
	tg["luns"] = tg["luns"].([]any)[:1]
	b, _ := json.Marshal(cfg)
	file := filepath.Join(t.TempDir(), "next.json")
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	type applied struct {
		Changes []string `json:"changes"`
		Applied bool     `json:"applied"`
	}
	var first, second applied
	if err := json.Unmarshal([]byte(d2.mustCtl(t, sock, "-o", "json", "config", "apply", file)), &first); err != nil {
		t.Fatal(err)
	}
	if !first.Applied || len(first.Changes) != 1 || first.Changes[0] != "remove lun 1 of "+defaultIQN {
		t.Fatalf("first config apply: %+v", first)
	}
	if err := json.Unmarshal([]byte(d2.mustCtl(t, sock, "-o", "json", "config", "apply", file)), &second); err != nil {
		t.Fatal(err)
	}
	if second.Applied || len(second.Changes) != 0 {
		t.Fatalf("second config apply: %+v, want no change", second)
	}
}

// sessionsOf is `atgtctl -o json sessions`.
func sessionsOf(t *testing.T, d *daemon, sock string) []ctlSession {
	t.Helper()
	var out []ctlSession
	if err := json.Unmarshal([]byte(d.mustCtl(t, sock, "-o", "json", "sessions")), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// clearUA sends TEST UNIT READY until no unit attention is reported.
func clearUA(t *testing.T, s *initiator.Session, lun uint64) {
	t.Helper()
	for range 4 {
		err := s.TestUnitReady(lun)
		var se *initiator.SCSIError
		if err == nil {
			return
		}
		if !errors.As(err, &se) || se.Key() != scsi.SenseUnitAttention {
			t.Fatalf("TEST UNIT READY lun %d: %v", lun, err)
		}
	}
	t.Fatalf("lun %d keeps reporting unit attentions", lun)
}

// expectUA asserts that the next command on lun reports the unit attention asc/ascq.
func expectUA(t *testing.T, s *initiator.Session, lun uint64, asc, ascq uint8) {
	t.Helper()
	err := s.TestUnitReady(lun)
	var se *initiator.SCSIError
	if !errors.As(err, &se) || se.Key() != scsi.SenseUnitAttention || se.ASC() != asc || se.ASCQ() != ascq {
		t.Fatalf("TEST UNIT READY lun %d: %v, want UNIT ATTENTION %02X/%02X", lun, err, asc, ascq)
	}
}
