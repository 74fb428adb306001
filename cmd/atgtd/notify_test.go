package main

import (
	"net"
	"path/filepath"
	"testing"
	"time"
)

// listenNotify opens a datagram socket as systemd does for NOTIFY_SOCKET.
func listenNotify(t *testing.T, name string) *net.UnixConn {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func receive(t *testing.T, c *net.UnixConn) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	return string(buf[:n])
}

// TestSdNotify: the state arrives as one datagram on a path socket and on an abstract
// one ("@name"); without NOTIFY_SOCKET nothing is sent and nothing fails; a socket
// that is not there is an error.
func TestSdNotify(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify")
	c := listenNotify(t, path)
	t.Setenv("NOTIFY_SOCKET", path)
	if err := sdNotify("READY=1"); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, c); got != "READY=1" {
		t.Fatalf("received %q", got)
	}

	abstract := "atgt-notify-test-" + filepath.Base(t.TempDir())
	a := listenNotify(t, "\x00"+abstract)
	t.Setenv("NOTIFY_SOCKET", "@"+abstract)
	if err := sdNotify("STOPPING=1"); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, a); got != "STOPPING=1" {
		t.Fatalf("received %q on the abstract socket", got)
	}

	t.Setenv("NOTIFY_SOCKET", "")
	if err := sdNotify("READY=1"); err != nil {
		t.Fatalf("without NOTIFY_SOCKET: %v", err)
	}
	t.Setenv("NOTIFY_SOCKET", filepath.Join(t.TempDir(), "absent"))
	if err := sdNotify("READY=1"); err == nil {
		t.Fatal("a missing socket is not reported")
	}
}
