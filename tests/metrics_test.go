package tests

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/atgt/atgt/messages/iscsi"
	"github.com/atgt/atgt/tests/initiator"
)

// TestMetricsScrape starts the real atgtd with -metrics on a free port, logs in with
// the Go initiator, writes and reads back known amounts, and checks what a scrape of
// /metrics says against what the test did: the exact bytes and commands per kind,
// latency histogram counts, no task left in flight, one session while logged in and
// none after the logout, the login successes and the refused logins by result, and
// the normal logout.
func TestMetricsScrape(t *testing.T) {
	const (
		allowed = "iqn.2026-11.dev.atgt:metrics-test"
		block   = 512
	)
	d := startDaemonConfig(t, oneLunConfig(t, 16<<20, allowed), "-metrics", "127.0.0.1:0")
	url := metricsURL(t, d)
	lun := fmt.Sprintf(`initiator="",lun="%d",target="%s"`, testLUN, defaultIQN)
	kind := func(name, k string) string {
		return fmt.Sprintf(`%s{initiator="",kind="%s",lun="%d",target="%s"}`, name, k, testLUN, defaultIQN)
	}
	sessions := fmt.Sprintf(`atgt_target_sessions{target="%s"}`, defaultIQN)

	m := scrape(t, url)
	m.want(t, sessions, 0)
	m.want(t, `atgt_logins_total{result="success"}`, 0)
	m.want(t, kind("atgt_lun_commands_total", "read"), 0)
	m.wantPresent(t, "process_cpu_seconds_total", "go_goroutines")

	// Two refused logins: an initiator the access list does not name (0202), and a
	// target that does not exist (0203).
	opts := initiator.Options{InitiatorName: allowed, TargetName: defaultIQN, ISID: [6]byte{0x80, 0x4d, 0, 0, 0, 1},
		Timeout: 10 * time.Second}
	bad := opts
	bad.InitiatorName = "iqn.2026-11.dev.atgt:not-allowed"
	wantLoginStatus(t, d.addr, bad, iscsi.LoginStatusAuthorizationFailure)
	bad = opts
	bad.TargetName = "iqn.2026-11.dev.atgt:no-such-target"
	wantLoginStatus(t, d.addr, bad, iscsi.LoginStatusNotFound)

	s, err := initiator.Dial(d.addr, opts)
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	defer s.Close()
	m = scrape(t, url)
	m.want(t, sessions, 1)
	m.want(t, `atgt_logins_total{result="success"}`, 1)
	m.want(t, `atgt_logins_total{result="authorization_failure"}`, 1)
	m.want(t, `atgt_logins_total{result="negotiation_failure"}`, 1)

	if err := retryUnitAttention(func() error { return s.TestUnitReady(uint64(testLUN)) }); err != nil {
		t.Fatalf("TEST UNIT READY: %v", err)
	}
	// Writes of several sizes (one needs R2Ts), then reads of a different total.
	writes := []struct {
		lba  uint64
		size int
	}{{0, 4 << 10}, {64, 64 << 10}, {1024, 256 << 10}}
	var written uint64
	data := map[uint64][]byte{}
	for _, w := range writes {
		buf := make([]byte, w.size)
		for i := range buf {
			buf[i] = byte(rand.Uint32())
		}
		if err := s.Write(uint64(testLUN), w.lba, buf, block, false); err != nil {
			t.Fatalf("write %d bytes at LBA %d: %v", w.size, w.lba, err)
		}
		data[w.lba] = buf
		written += uint64(w.size)
	}
	reads := []struct {
		lba    uint64
		blocks uint32
	}{{0, 8}, {64, 128}, {1024, 512}, {64, 16}}
	var read uint64
	for _, r := range reads {
		got, err := s.Read(uint64(testLUN), r.lba, r.blocks, block)
		if err != nil {
			t.Fatalf("read %d blocks at LBA %d: %v", r.blocks, r.lba, err)
		}
		if want := data[r.lba][:int(r.blocks)*block]; !bytes.Equal(got, want) {
			t.Fatalf("read at LBA %d returned other data than was written", r.lba)
		}
		read += uint64(len(got))
	}
	if err := s.SyncCache(uint64(testLUN)); err != nil {
		t.Fatalf("SYNCHRONIZE CACHE: %v", err)
	}

	m = scrape(t, url)
	m.want(t, kind("atgt_lun_bytes_total", "write"), float64(written))
	m.want(t, kind("atgt_lun_bytes_total", "read"), float64(read))
	m.want(t, kind("atgt_lun_commands_total", "write"), float64(len(writes)))
	m.want(t, kind("atgt_lun_commands_total", "read"), float64(len(reads)))
	m.want(t, kind("atgt_lun_commands_total", "sync"), 1)
	m.want(t, kind("atgt_lun_command_duration_seconds_count", "read"), float64(len(reads)))
	m.want(t, kind("atgt_lun_command_duration_seconds_count", "write"), float64(len(writes)))
	if sum := m.get(t, kind("atgt_lun_command_duration_seconds_sum", "write")); sum <= 0 || sum > 60 {
		t.Errorf("write latency sum %v s; want a positive time under a minute", sum)
	}
	le := fmt.Sprintf(`atgt_lun_command_duration_seconds_bucket{initiator="",kind="read",lun="%d",target="%s",le="+Inf"}`,
		testLUN, defaultIQN)
	m.want(t, le, float64(len(reads)))
	if n := m.get(t, kind("atgt_lun_commands_total", "other")); n < 1 {
		t.Errorf("other commands %v; want at least the TEST UNIT READY", n)
	}
	m.want(t, "atgt_lun_tasks_in_flight{"+lun+"}", 0)
	m.want(t, "atgt_lun_worker_restarts_total{"+lun+"}", 0)
	m.want(t, "atgt_lun_abandoned_ios_total{"+lun+"}", 0)
	m.want(t, sessions, 1)

	if err := s.Logout(); err != nil {
		t.Fatalf("logout: %v", err)
	}
	// The session ends as its connection stops, just after the Logout Response.
	deadline := time.Now().Add(5 * time.Second)
	for {
		m = scrape(t, url)
		if v, ok := m[sessions]; ok && v == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	m.want(t, sessions, 0)
	m.want(t, `atgt_logouts_total{kind="normal"}`, 1)
	m.want(t, `atgt_logouts_total{kind="abnormal"}`, 0)
}

// wantLoginStatus logs in with o and checks that the target refuses it with status st.
func wantLoginStatus(t *testing.T, addr string, o initiator.Options, st iscsi.LoginStatus) {
	t.Helper()
	s, err := initiator.Dial(addr, o)
	if err == nil {
		s.Close()
		t.Fatalf("login as %s to %s succeeded; want status %04x", o.InitiatorName, o.TargetName, uint16(st))
	}
	var le *initiator.LoginError
	if !errors.As(err, &le) || le.Status() != st {
		t.Fatalf("login as %s to %s: %v; want status %04x", o.InitiatorName, o.TargetName, err, uint16(st))
	}
}

// metricsURL is the /metrics address atgtd printed before its ready line.
func metricsURL(t *testing.T, d *daemon) string {
	t.Helper()
	for _, line := range strings.Split(d.stdout.String(), "\n") {
		if u, ok := strings.CutPrefix(line, "metrics "); ok {
			return strings.TrimSpace(u)
		}
	}
	t.Fatalf("atgtd printed no metrics line before ready:\n%s", d.stdout)
	return ""
}

// samples maps each sample of a scrape, as "name{labels}" in the exposition's own
// label order, to its value.
type samples map[string]float64

// scrape fetches url and parses the text exposition format's samples.
func scrape(t *testing.T, url string) samples {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape %s: status %d, %v", url, resp.StatusCode, err)
	}
	m := samples{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if i < 0 || err != nil {
			t.Fatalf("scrape %s: bad sample line %q", url, line)
		}
		m[line[:i]] = v
	}
	return m
}

// get returns a sample, failing the test if the scrape has none.
func (m samples) get(t *testing.T, key string) float64 {
	t.Helper()
	v, ok := m[key]
	if !ok {
		t.Fatalf("scrape has no sample %s", key)
	}
	return v
}

// want checks a sample's value.
func (m samples) want(t *testing.T, key string, want float64) {
	t.Helper()
	if got := m.get(t, key); got != want {
		t.Errorf("%s = %v; want %v", key, got, want)
	}
}

// wantPresent checks that the scrape has samples of the named metrics (any labels).
func (m samples) wantPresent(t *testing.T, names ...string) {
	t.Helper()
	for _, name := range names {
		found := false
		for k := range m {
			if k == name || strings.HasPrefix(k, name+"{") {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("scrape has no %s", name)
		}
	}
}

// TestMetricsFaults configures a LUN whose backend fails two reads of one range and
// panics its IO worker on the first write, and checks that a scrape counts what the
// initiator saw: the injected faults fired by kind, the reads ended MEDIUM ERROR by
// sense key, the worker restart (the retried write succeeds), and bytes only for the
// commands that ended GOOD.
func TestMetricsFaults(t *testing.T) {
	const block = 512
	cfg := oneLunConfig(t, 16<<20)
	cfg.Targets[0].Luns[0].Faults = []testFault{
		{Op: "read", Kind: "error", Offset: 100 * block, Length: 8 * block, Count: 2},
		{Op: "write", Kind: "panic", Count: 1},
	}
	d := startDaemonConfig(t, cfg, "-metrics", "127.0.0.1:0")
	url := metricsURL(t, d)
	s, err := initiator.Dial(d.addr, initiator.Options{InitiatorName: "iqn.2026-11.dev.atgt:metrics-faults",
		TargetName: defaultIQN, ISID: [6]byte{0x80, 0x4d, 0, 0, 0, 2}, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	defer s.Close()
	if err := retryUnitAttention(func() error { return s.TestUnitReady(uint64(testLUN)) }); err != nil {
		t.Fatalf("TEST UNIT READY: %v", err)
	}
	buf := make([]byte, 8*block)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	if err := s.Write(uint64(testLUN), 100, buf, block, false); err != nil {
		t.Fatalf("write (its worker panics once, the retry succeeds): %v", err)
	}
	senseKeys := map[string]float64{}
	for range 2 {
		_, err := s.Read(uint64(testLUN), 100, 8, block)
		var se *initiator.SCSIError
		if !errors.As(err, &se) {
			t.Fatalf("read of the faulty range: %v; want CHECK CONDITION", err)
		}
		senseKeys[senseKeyName(se.Key())]++
	}
	got, err := s.Read(uint64(testLUN), 100, 8, block)
	if err != nil || !bytes.Equal(got, buf) {
		t.Fatalf("third read (the fault's count is spent): %v, data equal %v", err, bytes.Equal(got, buf))
	}

	lun := fmt.Sprintf(`initiator="",lun="%d",target="%s"`, testLUN, defaultIQN)
	// The exposition sorts labels by name, the histogram's le aside.
	with := func(name, label, value string) string {
		if label < "initiator" {
			return fmt.Sprintf(`%s{%s="%s",initiator="",lun="%d",target="%s"}`, name, label, value, testLUN, defaultIQN)
		}
		return fmt.Sprintf(`%s{initiator="",%s="%s",lun="%d",target="%s"}`, name, label, value, testLUN, defaultIQN)
	}
	m := scrape(t, url)
	m.want(t, with("atgt_lun_faults_injected_total", "fault", "error"), 2)
	m.want(t, with("atgt_lun_faults_injected_total", "fault", "panic"), 1)
	m.want(t, "atgt_lun_worker_restarts_total{"+lun+"}", 1)
	m.want(t, "atgt_lun_abandoned_ios_total{"+lun+"}", 0)
	for key, n := range senseKeys {
		m.want(t, fmt.Sprintf(`atgt_lun_errors_total{initiator="",lun="%d",sense_key="%s",target="%s"}`,
			testLUN, key, defaultIQN), n)
	}
	m.want(t, with("atgt_lun_commands_total", "kind", "read"), 3)
	m.want(t, with("atgt_lun_bytes_total", "kind", "read"), float64(len(buf)))
	m.want(t, with("atgt_lun_commands_total", "kind", "write"), 1)
	m.want(t, with("atgt_lun_bytes_total", "kind", "write"), float64(len(buf)))
	m.want(t, "atgt_lun_tasks_in_flight{"+lun+"}", 0)
}

// senseKeyName is the sense_key label of a sense key (SPC-4 table 27).
func senseKeyName(k uint8) string {
	return [...]string{"NO_SENSE", "RECOVERED_ERROR", "NOT_READY", "MEDIUM_ERROR", "HARDWARE_ERROR",
		"ILLEGAL_REQUEST", "UNIT_ATTENTION", "DATA_PROTECT", "BLANK_CHECK", "VENDOR_SPECIFIC", "COPY_ABORTED",
		"ABORTED_COMMAND", "0x0C", "VOLUME_OVERFLOW", "MISCOMPARE", "COMPLETED"}[k&0x0f]
}

// TestMetricsBadAddress checks that atgtd refuses a -metrics address it cannot
// listen on: exit status 2, naming the flag, before it is ready.
func TestMetricsBadAddress(t *testing.T) {
	if buildErr != nil {
		t.Fatalf("building atgtd failed: %v", buildErr)
	}
	out, err := runTool(t, 30*time.Second, atgtdBin, "-portal", "127.0.0.1:0", "-data", t.TempDir(),
		"-metrics", "127.0.0.1:99999")
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Fatalf("atgtd -metrics 127.0.0.1:99999: %v; want exit status 2\n%s", err, out)
	}
	if !strings.Contains(out, "-metrics") || strings.Contains(out, "ready portal=") {
		t.Fatalf("atgtd -metrics 127.0.0.1:99999 said %q; want an error naming -metrics and no ready line", out)
	}
}
