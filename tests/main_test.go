package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Fixed names and limits shared by the tests.
const (
	defaultIQN = "iqn.2026-11.dev.atgt:default"
	// The two initiator names iscsi-test-cu logs in with.
	cuInitiator1 = "iqn.2007-10.com.github:sahlberg:libiscsi:iscsi-test"
	cuInitiator2 = "iqn.2007-10.com.github:sahlberg:libiscsi:iscsi-test-2"

	readyTimeout = 20 * time.Second
	stopTimeout  = 25 * time.Second // atgtd waits up to 10 s for logouts, then flushes
)

var (
	// atgtdBin is the daemon under test, built by TestMain.
	atgtdBin string
	// buildErr is why the build failed; tests that need the daemon fail with it
	// while the pure unit tests still run.
	buildErr error
	// testLUN is the LUN number the clients address (ATGT_TEST_LUN, default 0).
	testLUN = 0
	// daemonTags are the build tags atgtd is built with (rbd_test.go adds "ceph").
	daemonTags []string
	// atExit runs after the tests (rbd_test.go stops its Ceph cluster).
	atExit []func()
)

// TestMain builds cmd/atgtd once into a temporary directory (or uses $ATGTD_BIN).
func TestMain(m *testing.M) {
	if v := os.Getenv("ATGT_TEST_LUN"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			fmt.Fprintf(os.Stderr, "bad ATGT_TEST_LUN %q: %v\n", v, err)
			os.Exit(2)
		}
		testLUN = n
	}
	tmp, err := os.MkdirTemp("", "atgt-tests-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if bin := os.Getenv("ATGTD_BIN"); bin != "" {
		atgtdBin = bin
	} else {
		atgtdBin, buildErr = buildDaemon(filepath.Join(tmp, "atgtd"))
	}
	code := m.Run()
	for _, f := range atExit {
		f()
	}
	os.RemoveAll(tmp)
	os.Exit(code)
}

// buildDaemon runs `go build -o out ./cmd/atgtd` in the module root.
func buildDaemon(out string) (string, error) {
	if err := buildCommand("./cmd/atgtd", out); err != nil {
		return "", err
	}
	return out, nil
}

// buildCommand runs `go build -o out pkg` in the module root.
func buildCommand(pkg, out string) error {
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	if root == "." || root == "" || strings.TrimSpace(string(gomod)) == os.DevNull {
		return errors.New("not inside the atgt module (go env GOMOD is empty)")
	}
	cmd := exec.Command("go", "build", "-tags", strings.Join(daemonTags, ","), "-o", out, pkg)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
	}
	return nil
}

// requireTool returns the path of a client tool, failing the test (never skipping) when
// it is missing. pkg names the Debian package that provides it.
func requireTool(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found: install %s (or run scripts/install-test-deps.sh)", name, pkg)
	}
	return p
}

// requireLibiscsi checks for one of the libiscsi-bin tools.
func requireLibiscsi(t testing.TB, name string) string {
	t.Helper()
	return requireTool(t, name, "libiscsi-bin")
}

// runTool runs a client tool with a time limit and returns its combined output.
func runTool(t testing.TB, timeout time.Duration, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.WaitDelay = 5 * time.Second
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	start := time.Now()
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("%s timed out after %v: %w", name, timeout, err)
	}
	t.Logf("$ %s %s  (%v, err=%v)", name, strings.Join(args, " "), time.Since(start).Round(time.Millisecond), err)
	return out.String(), err
}

// daemon is one running atgtd.
type daemon struct {
	cmd    *exec.Cmd
	addr   string   // the bound portal, "127.0.0.1:PORT"
	luns   []string // the "target IQN lun N ..." lines
	stdout *lineWriter
	stderr *tailBuffer
	done   chan struct{} // closed when the process has exited
	err    error         // cmd.Wait's result, valid after done
	// stopped: the test ended the process itself and checked how.
	stopped bool
}

// startDaemon starts atgtd with -portal 127.0.0.1:0 -data <temp dir> and the extra
// arguments, waits for its ready line and registers a cleanup that stops it with
// SIGTERM and checks it exits 0 in time. Its stderr is printed when the test fails.
func startDaemon(t testing.TB, extra ...string) *daemon {
	t.Helper()
	args := append([]string{"-portal", "127.0.0.1:0", "-data", t.TempDir()}, extra...)
	return startDaemonArgs(t, args...)
}

// startDaemonConfig writes cfg as the JSON config file and starts atgtd with only
// -config (the portal and data directory come from the config) and any extra flags.
func startDaemonConfig(t testing.TB, cfg any, extra ...string) *daemon {
	t.Helper()
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "atgt.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("config %s:\n%s", path, b)
	return startDaemonArgs(t, append([]string{"-config", path}, extra...)...)
}

func startDaemonArgs(t testing.TB, args ...string) *daemon {
	t.Helper()
	return startDaemonIn(t, "", args...)
}

// startDaemonIn is startDaemonArgs with atgtd's working directory dir ("": the
// test's), for relative -config and -data paths as an administrator types them.
func startDaemonIn(t testing.TB, dir string, args ...string) *daemon {
	t.Helper()
	if buildErr != nil {
		t.Fatalf("building atgtd failed: %v", buildErr)
	}
	d := &daemon{
		stderr: &tailBuffer{max: 4 << 20},
		done:   make(chan struct{}),
	}
	ready := make(chan string, 1)
	d.stdout = &lineWriter{onLine: func(line string) {
		switch {
		case strings.HasPrefix(line, "ready portal="):
			select {
			case ready <- strings.TrimSpace(strings.TrimPrefix(line, "ready portal=")):
			default:
			}
		case strings.HasPrefix(line, "target "):
			d.luns = append(d.luns, line)
		}
	}}
	d.cmd = exec.Command(atgtdBin, args...)
	d.cmd.Dir = dir
	d.cmd.Stdout = d.stdout
	d.cmd.Stderr = d.stderr
	t.Logf("$ %s %s", atgtdBin, strings.Join(args, " "))
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("start atgtd: %v", err)
	}
	go func() {
		d.err = d.cmd.Wait()
		close(d.done)
	}()
	t.Cleanup(func() { d.stop(t) })

	select {
	case addr := <-ready:
		d.addr = addr
	case <-d.done:
		t.Fatalf("atgtd exited before it was ready: %v\nstdout:\n%s", d.err, d.stdout)
	case <-time.After(readyTimeout):
		t.Fatalf("atgtd printed no \"ready portal=\" line within %v\nstdout:\n%s", readyTimeout, d.stdout)
	}
	if !strings.HasPrefix(d.addr, "127.") || strings.HasSuffix(d.addr, ":0") {
		t.Fatalf("ready line names %q, want the bound loopback 127.x.y.z:PORT", d.addr)
	}
	t.Logf("atgtd ready on %s (pid %d)", d.addr, d.cmd.Process.Pid)
	return d
}

// stop sends SIGTERM and checks for a clean exit; it prints stderr on any failure.
func (d *daemon) stop(t testing.TB) {
	select {
	case <-d.done:
		if d.stopped {
			return
		}
		t.Errorf("atgtd died during the test: %v", d.err)
	default:
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.done:
			if d.err != nil {
				t.Errorf("atgtd did not exit cleanly on SIGTERM: %v", d.err)
			}
		case <-time.After(stopTimeout):
			_ = d.cmd.Process.Kill()
			<-d.done
			t.Errorf("atgtd still running %v after SIGTERM; killed", stopTimeout)
		}
	}
	if t.Failed() {
		t.Logf("atgtd stderr (last %d bytes):\n%s", d.stderr.max, d.stderr)
	}
}

// alive reports whether the process is still running.
func (d *daemon) alive() bool {
	select {
	case <-d.done:
		return false
	default:
		return true
	}
}

// url is the iSCSI URL of a LUN of the default target.
func (d *daemon) url(iqn string, lun int) string {
	return fmt.Sprintf("iscsi://%s/%s/%d", d.addr, iqn, lun)
}

// healthErr returns an error unless the daemon runs and a new session answers
// INQUIRY (with iscsi-inq, which the caller must have checked for).
func (d *daemon) healthErr(t testing.TB, iqn string) error {
	t.Helper()
	if !d.alive() {
		return fmt.Errorf("atgtd is no longer running: %v", d.err)
	}
	out, err := runTool(t, 30*time.Second, "iscsi-inq", d.url(iqn, testLUN))
	if err != nil || !strings.Contains(out, "Vendor:") {
		return fmt.Errorf("fresh session failed: iscsi-inq: %v\n%s", err, out)
	}
	return nil
}

// lineWriter collects a process's output and calls onLine for each complete line.
type lineWriter struct {
	mu     sync.Mutex
	all    bytes.Buffer
	part   []byte
	onLine func(string)
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.all.Write(p)
	w.part = append(w.part, p...)
	for {
		i := bytes.IndexByte(w.part, '\n')
		if i < 0 {
			break
		}
		line := string(bytes.TrimRight(w.part[:i], "\r"))
		w.part = w.part[i+1:]
		if w.onLine != nil {
			w.onLine(line)
		}
	}
	return len(p), nil
}

func (w *lineWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.all.String()
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.max; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

// Config types mirroring proto/atgt/v1/config.proto in protobuf JSON form, so the
// tests need nothing but the standard library.
type (
	testConfig struct {
		Portals []string     `json:"portals"`
		DataDir string       `json:"dataDir"`
		Targets []testTarget `json:"targets"`
		// LoginTimeoutSeconds bounds a connection's login (0: the daemon's default).
		LoginTimeoutSeconds int `json:"loginTimeoutSeconds,omitempty"`
		// ShutdownGraceSeconds is how long a stopping atgtd waits for logouts.
		ShutdownGraceSeconds int `json:"shutdownGraceSeconds,omitempty"`
	}
	testTarget struct {
		Name              string    `json:"name"`
		AllowedInitiators []string  `json:"allowedInitiators,omitempty"`
		Luns              []testLun `json:"luns,omitempty"`
		// AllowedNetworks are the CIDRs logins may come from (empty: any).
		AllowedNetworks []string `json:"allowedNetworks,omitempty"`
		// InitiatorLuns give initiators their own LUNs instead of Luns.
		InitiatorLuns []testInitiatorLuns `json:"initiatorLuns,omitempty"`
		// AllowUnauthenticated serves the target on a non-loopback portal without
		// authentication or an access list.
		AllowUnauthenticated bool `json:"allowUnauthenticated,omitempty"`
	}
	// testInitiatorLuns is one initiator's own LUNs (config.proto, InitiatorLuns).
	testInitiatorLuns struct {
		Initiator string    `json:"initiator"`
		Luns      []testLun `json:"luns"`
	}
	testLun struct {
		ID        int    `json:"id"`
		Path      string `json:"path"`
		SizeBytes string `json:"sizeBytes,omitempty"` // uint64 is a string in protobuf JSON
		// Backend is "file" (default), "memory" or "rbd" (with Rbd).
		Backend    string   `json:"backend,omitempty"`
		Rbd        *testRbd `json:"rbd,omitempty"`
		Workers    int      `json:"workers,omitempty"`
		ReadOnly   bool     `json:"readOnly"`
		WriteCache bool     `json:"writeCache"`
		// BlockSize is the logical block size, 512 (default) or 4096.
		BlockSize int `json:"blockSize,omitempty"`
		// Provisioning is "thin" (default) or "thick".
		Provisioning string `json:"provisioning,omitempty"`
		// AllowSanitize enables SANITIZE on the LUN.
		AllowSanitize bool `json:"allowSanitize,omitempty"`
		// SanitizeBytesPerSecond slows SANITIZE OVERWRITE so that a test can see it run.
		SanitizeBytesPerSecond string `json:"sanitizeBytesPerSecond,omitempty"`
		// IoTimeout abandons a backend call that takes longer, in seconds (0: the default).
		IoTimeout float64 `json:"ioTimeout,omitempty"`
		// Faults are injected into the LUN's backend and actors.
		Faults []testFault `json:"faults,omitempty"`
		// FaultSeed seeds the faults' random draws (nil: a random seed).
		FaultSeed *uint64 `json:"faultSeed,omitempty,string"`
	}
	// testRbd names an RBD image (config.proto, Rbd).
	testRbd struct {
		Pool     string `json:"pool,omitempty"`
		Image    string `json:"image"`
		User     string `json:"user,omitempty"`
		CephConf string `json:"cephConf,omitempty"`
	}
	// testFault is one injected fault (proto/atgt/v1/config.proto, Fault).
	testFault struct {
		Op          string  `json:"op"`
		Kind        string  `json:"kind"`
		Probability float64 `json:"probability,omitempty"`
		DelayMs     int     `json:"delayMs,omitempty"`
		Offset      int64   `json:"offset,omitempty,string"`
		Length      int64   `json:"length,omitempty,string"`
		Count       int     `json:"count,omitempty"`
	}
)

// oneLunConfig is a config with the default target name and a single LUN of size
// bytes under a fresh data directory, open to the given initiators (all if none).
// makeSparse creates path as a sparse file of size bytes, failing the test if it
// cannot.
func makeSparse(t testing.TB, path string, size int64, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, nil, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, size); err != nil {
		t.Fatal(err)
	}
}

func oneLunConfig(t testing.TB, size int64, initiators ...string) testConfig {
	dir := t.TempDir()
	return testConfig{
		Portals: []string{"127.0.0.1:0"},
		DataDir: dir,
		Targets: []testTarget{{
			Name:              defaultIQN,
			AllowedInitiators: initiators,
			Luns: []testLun{{
				ID:         testLUN,
				Path:       filepath.Join(dir, "lun.img"),
				SizeBytes:  strconv.FormatInt(size, 10),
				Workers:    4,
				WriteCache: true,
			}},
		}},
	}
}
