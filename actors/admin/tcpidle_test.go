package admin_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/atgt/atgt/actors/admin"
	"github.com/atgt/atgt/actors/admin/admintest"
)

const idleTestToken = "0123456789abcdef0123456789abcdef"

// dialAdmin serves the sample API on loopback TCP and dials it.
func dialAdmin(t *testing.T, idle time.Duration) (net.Conn, *bufio.Reader) {
	t.Helper()
	srv, err := admin.Serve(admintest.New(admintest.Sample()), admin.ServerConfig{TCPAddr: "127.0.0.1:0", Token: idleTestToken, IdleTimeout: idle})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	c, err := net.Dial("tcp", srv.TCPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, bufio.NewReader(c)
}

// ask sends a Status call on c (with auth as its Authorization header, if any) and
// returns the answer's status, or -1 when the connection is gone.
func ask(c net.Conn, br *bufio.Reader, auth string) int {
	req := "POST /atgt.v1.AdminService/Status HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
	if auth != "" {
		req += "Authorization: " + auth + "\r\n"
	}
	if _, err := c.Write([]byte(req + "\r\n{}")); err != nil {
		return -1
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return -1
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// waitClosed fails unless the server closes c within limit (a bound on the test,
// not the behaviour's timing).
func waitClosed(t *testing.T, c net.Conn, br *bufio.Reader, limit time.Duration, what string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(limit))
	_, err := br.ReadByte()
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("%s: the connection is still open after %v", what, limit)
	}
	if err == nil {
		t.Fatalf("%s: the server sent more", what)
	}
}

// TestTCPRefusedConnectionClosed: a local user without the token must not keep a
// connection to -admin-addr open (one refused request, then idle for ever), or
// enough of them exhaust atgtd's descriptors, which its iSCSI portals share: the
// server closes the connection after its 401.
func TestTCPRefusedConnectionClosed(t *testing.T) {
	c, br := dialAdmin(t, time.Hour)
	if code := ask(c, br, ""); code != http.StatusUnauthorized {
		t.Fatalf("first request: %d", code)
	}
	waitClosed(t, c, br, 5*time.Second, "after a 401")
}

// TestTCPIdleConnectionClosed: an idle connection (here after an authenticated
// call) is closed after the server's IdleTimeout.
func TestTCPIdleConnectionClosed(t *testing.T) {
	c, br := dialAdmin(t, 200*time.Millisecond)
	if code := ask(c, br, "Bearer "+idleTestToken); code != http.StatusOK {
		t.Fatalf("authenticated request: %d", code)
	}
	waitClosed(t, c, br, 10*time.Second, "idle past IdleTimeout")
}

// TestTCPSlowBodyCut: a request whose body does not arrive within the server's
// ReadTimeout is cut, so a client cannot hold a connection by sending it slowly.
func TestTCPSlowBodyCut(t *testing.T) {
	srv, err := admin.Serve(admintest.New(admintest.Sample()), admin.ServerConfig{TCPAddr: "127.0.0.1:0", Token: idleTestToken,
		IdleTimeout: time.Hour, ReadTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c, err := net.Dial("tcp", srv.TCPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req := "POST /atgt.v1.AdminService/Status HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" +
		"Authorization: Bearer " + idleTestToken + "\r\nContent-Length: 10\r\n\r\n{"
	if _, err := c.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	c.SetReadDeadline(time.Now().Add(5 * time.Second)) // a bound on the test
	for {
		if _, err := br.ReadByte(); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("a body that never arrives still holds the connection after 5 s")
			}
			return // answered and closed, or closed
		}
	}
}
