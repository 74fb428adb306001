package tests

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/atgt/atgt/tests/initiator"
)

// The stop of atgtd by signal: SIGTERM/SIGINT give a clean stop (logouts, flush,
// exit 0) whatever else happens around it. Run them together with
//
//	go test -count=1 -run 'TestStopSignals' ./tests/

// writeTestConfig writes cfg as atgtd's JSON config file and returns its path.
func writeTestConfig(t *testing.T, cfg testConfig) string {
	t.Helper()
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "atgt.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// waitExit waits for atgtd to end and fails the test unless it exited 0 (killed by
// a signal: no clean stop, no logout, no flush).
func waitExit(t *testing.T, cmd *exec.Cmd, stderr func() string) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(stopTimeout):
		cmd.Process.Kill()
		t.Fatalf("atgtd did not stop; stderr:\n%s", stderr())
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			t.Fatalf("atgtd was killed by %v on SIGTERM (no clean stop: no logout, no flush); stderr:\n%s", ws.Signal(), stderr())
		}
	}
	if err != nil {
		t.Fatalf("atgtd exited with %v; want 0; stderr:\n%s", err, stderr())
	}
}

// TestStopSignalsWithStdoutGone: atgtd's stdout is a pipe whose reader has gone (a
// `atgtd | tee log` pipeline interrupted with Ctrl-C, a supervisor that stopped
// reading). SIGTERM must still give the clean stop: atgtd writes "stopping ..." to
// stdout before it stops, and Go kills a process that writes to a broken stdout
// with SIGPIPE unless SIGPIPE is ignored.
func TestStopSignalsWithStdoutGone(t *testing.T) {
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	path := writeTestConfig(t, oneLunConfig(t, 16<<20))
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(atgtdBin, "-config", path, "-admin-socket", "off")
	cmd.Stdout = w
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	sc := bufio.NewScanner(r)
	ready := false
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "ready portal=") {
			ready = true
			break
		}
	}
	if !ready {
		t.Fatalf("no ready line")
	}
	r.Close() // the reader goes away
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitExit(t, cmd, stderr.String)
	if !strings.Contains(stderr.String(), "stopping") {
		t.Fatalf("no stop logged:\n%s", stderr.String())
	}
}

// TestStopSignalsSighupDuringStop: a SIGHUP that arrives while atgtd waits out the
// grace period of a clean stop (a reload from a script, a terminal's hangup) is
// logged and ignored. It used to kill atgtd at once (signal.Stop gave SIGHUP back
// its default action), skipping the logouts, the flush and the exit status.
func TestStopSignalsSighupDuringStop(t *testing.T) {
	cfg := oneLunConfig(t, 16<<20)
	cfg.ShutdownGraceSeconds = 2
	d := startDaemonConfig(t, cfg)
	s, err := initiator.Dial(d.addr, initiator.Options{InitiatorName: "iqn.2026-11.dev.atgt:hup-test", TargetName: defaultIQN,
		ISID: [6]byte{0x80, 0x5e, 0, 0, 0, 2}, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	defer s.Close()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.Async:
	case <-time.After(5 * time.Second):
		t.Fatal("no Async Message")
	}
	// The session stays (as a busy initiator would for a while): atgtd waits the grace.
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	select {
	case <-d.done:
	case <-time.After(20 * time.Second):
		t.Fatal("atgtd did not stop")
	}
	d.stopped = true
	var exit *exec.ExitError
	if errors.As(d.err, &exit) {
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			t.Fatalf("a SIGHUP during the clean stop killed atgtd by %v: no flush, no exit status", ws.Signal())
		}
	}
	if d.err != nil {
		t.Fatalf("atgtd exited with %v, want 0 after the grace", d.err)
	}
	if !strings.Contains(d.stderr.String(), "SIGHUP during the stop") {
		t.Errorf("the SIGHUP during the stop was not logged:\n%s", d.stderr)
	}
}

// TestStopSignalsDuringStart: a SIGTERM that arrives once the portal listens but
// before atgtd has finished starting (initiators log in without waiting for READY)
// gives the clean stop too. atgtd is held inside its start by a stdout pipe that is
// full (its first line after the portal listens blocks), and the signal is sent
// then; the pipe is read only after.
func TestStopSignalsDuringStart(t *testing.T) {
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := oneLunConfig(t, 16<<20)
	cfg.Portals = []string{addr}
	path := writeTestConfig(t, cfg)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// Fill the pipe: atgtd's first write to stdout blocks until it is read.
	size, err := unix.FcntlInt(w.Fd(), unix.F_SETPIPE_SZ, 4096)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(make([]byte, size)); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(atgtdBin, "-config", path, "-admin-socket", "off")
	cmd.Stdout = w
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	deadline := time.Now().Add(readyTimeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("the portal %s does not listen: %v; stderr:\n%s", addr, err, stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	out := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(r)
		out <- string(b[size:])
	}()
	waitExit(t, cmd, stderr.String)
	if o := <-out; !strings.Contains(o, "stopping (signal terminated)") || !strings.Contains(o, "\nstopped\n") {
		t.Errorf("stdout has no clean stop:\n%s", o)
	}
}

// TestStopSignalsExtendTimeout: under systemd (NOTIFY_SOCKET), a stopping atgtd
// asks for the time its stop may take (EXTEND_TIMEOUT_USEC, at least twice the
// grace, the tree's 10 s and the final flush's 30 s), so that a unit whose
// TimeoutStopSec is shorter does not SIGKILL it during a clean stop.
func TestStopSignalsExtendTimeout(t *testing.T) {
	next := notifySocket(t)
	cfg := oneLunConfig(t, 16<<20)
	cfg.ShutdownGraceSeconds = 50
	d := startDaemonConfig(t, cfg)
	if got := next(readyTimeout); got != "READY=1" {
		t.Fatalf("first notification %q, want READY=1", got)
	}
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if got := next(5 * time.Second); got != "STOPPING=1" {
		t.Fatalf("notification after SIGTERM %q, want STOPPING=1", got)
	}
	got := next(5 * time.Second)
	usec, err := strconv.ParseInt(strings.TrimPrefix(got, "EXTEND_TIMEOUT_USEC="), 10, 64)
	if !strings.HasPrefix(got, "EXTEND_TIMEOUT_USEC=") || err != nil {
		t.Fatalf("notification after STOPPING=1 %q, want EXTEND_TIMEOUT_USEC=N", got)
	}
	if want := (2*50 + 10 + 30) * time.Second; time.Duration(usec)*time.Microsecond < want {
		t.Errorf("EXTEND_TIMEOUT_USEC=%d is less than the stop may take (%v)", usec, want)
	}
	select {
	case <-d.done:
		d.stopped = true
		if d.err != nil {
			t.Fatalf("atgtd exited with %v, want 0", d.err)
		}
	case <-time.After(stopTimeout):
		t.Fatalf("atgtd still running %v after SIGTERM", stopTimeout)
	}
}
