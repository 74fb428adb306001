package tests

import (
	"net"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"
)

// TestSystemdNotify runs atgtd as a Type=notify unit would, with NOTIFY_SOCKET naming
// a datagram socket of the test's: READY=1 is the first message, and by the time it
// arrives every portal accepts connections; SIGTERM brings STOPPING=1, then a clean
// exit.
func TestSystemdNotify(t *testing.T) {
	next := notifySocket(t)

	cfg := oneLunConfig(t, 16<<20)
	cfg.Portals = []string{"127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"}
	d := startDaemonConfig(t, cfg)
	if got := next(readyTimeout); got != "READY=1" {
		t.Fatalf("first notification %q, want READY=1", got)
	}
	// Every portal accepts at once: the first from the ready line, the others from
	// their "portal ADDR" lines.
	portals := []string{d.addr}
	for _, m := range regexp.MustCompile(`(?m)^portal (\S+)$`).FindAllStringSubmatch(d.stdout.String(), -1) {
		portals = append(portals, m[1])
	}
	if len(portals) != 3 {
		t.Fatalf("portals %v, want 3", portals)
	}
	for _, p := range portals {
		conn, err := net.DialTimeout("tcp", p, time.Second)
		if err != nil {
			t.Fatalf("portal %s after READY=1: %v", p, err)
		}
		conn.Close()
	}

	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if got := next(5 * time.Second); got != "STOPPING=1" {
		t.Fatalf("notification after SIGTERM %q, want STOPPING=1", got)
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

// notifySocket sets NOTIFY_SOCKET to a datagram socket of the test's, as systemd
// does for a Type=notify unit, and returns a function that reads the next
// notification, failing the test if none arrives within the given time.
func notifySocket(t *testing.T) func(within time.Duration) string {
	sock := filepath.Join(t.TempDir(), "notify")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	t.Setenv("NOTIFY_SOCKET", sock)
	return func(within time.Duration) string {
		t.Helper()
		c.SetReadDeadline(time.Now().Add(within))
		buf := make([]byte, 4096)
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("no notification within %v: %v", within, err)
		}
		return string(buf[:n])
	}
}
