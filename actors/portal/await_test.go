package portal

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

// holderHarness runs a holder over real loopback connections and reports what it
// did with each.
type holderHarness struct {
	h        *holder
	ln       net.Listener
	handed   chan net.Conn
	timedOut chan net.Conn
}

func newHolderHarness(t *testing.T, timeout time.Duration) *holderHarness {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	x := &holderHarness{ln: ln, handed: make(chan net.Conn, 16), timedOut: make(chan net.Conn, 16)}
	x.h = newHolder(hclog.NewNullLogger(), timeout, func(c net.Conn, _ time.Time) { x.handed <- c },
		func(c net.Conn) { c.Close(); x.timedOut <- c })
	if x.h == nil {
		t.Fatal("no epoll")
	}
	t.Cleanup(func() { x.h.stop(); ln.Close() })
	return x
}

// dial connects a client and holds the accepted end; it returns the client end.
func (x *holderHarness) dial(t *testing.T) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", x.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	s, err := x.ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if held, _ := x.h.add(s, time.Now()); !held {
		t.Fatal("not held")
	}
	return c
}

func expectConn(t *testing.T, ch chan net.Conn, what string, within time.Duration) net.Conn {
	t.Helper()
	select {
	case c := <-ch:
		return c
	case <-time.After(within):
		t.Fatalf("no %s within %v", what, within)
		return nil
	}
}

func expectNone(t *testing.T, ch chan net.Conn, what string, during time.Duration) {
	t.Helper()
	select {
	case <-ch:
		t.Fatalf("unexpected %s", what)
	case <-time.After(during):
	}
}

// TestHolderHandsOverAWholeHeader: a connection is handed over once 48 bytes have
// arrived, in pieces or at once, and the bytes are still there to read.
func TestHolderHandsOverAWholeHeader(t *testing.T) {
	x := newHolderHarness(t, 5*time.Second)
	c := x.dial(t)
	hdr := make([]byte, bhsLength)
	for i := range hdr {
		hdr[i] = byte(i)
	}
	c.Write(hdr[:20])
	expectNone(t, x.handed, "hand-over after 20 bytes", 200*time.Millisecond)
	c.Write(hdr[20:])
	s := expectConn(t, x.handed, "hand-over after the whole header", time.Second)
	got := make([]byte, bhsLength)
	s.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := io.ReadFull(s, got); err != nil || string(got) != string(hdr) {
		t.Fatalf("read after hand-over: %v %x", err, got)
	}
	if x.h.held() != 0 {
		t.Fatalf("%d still held", x.h.held())
	}
	s.Close()
}

// TestHolderTimeout: a silent connection and one with half a header are closed at the
// timeout; a peer that closes after half a header is handed over at once (its reader
// sees the truncated stream), one that closes without a byte is just closed.
func TestHolderTimeout(t *testing.T) {
	const timeout = 300 * time.Millisecond
	x := newHolderHarness(t, timeout)
	start := time.Now()
	x.dial(t)
	half := x.dial(t)
	half.Write(make([]byte, 24))
	expectConn(t, x.timedOut, "timeout of the silent connection", 2*time.Second)
	expectConn(t, x.timedOut, "timeout of the half header", 2*time.Second)
	if took := time.Since(start); took < timeout || took > timeout+3*holdTick {
		t.Fatalf("timed out after %v, want %v..%v", took, timeout, timeout+3*holdTick)
	}

	x2 := newHolderHarness(t, 5*time.Second)
	fin := x2.dial(t)
	fin.Write(make([]byte, 20))
	fin.(*net.TCPConn).CloseWrite()
	expectConn(t, x2.handed, "hand-over of a half header and FIN", time.Second)
	probe := x2.dial(t)
	probe.Close()
	deadline := time.Now().Add(time.Second)
	for x2.h.held() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("a connection closed without a byte is still held")
		}
		time.Sleep(10 * time.Millisecond)
	}
	expectNone(t, x2.handed, "hand-over of a port probe", 100*time.Millisecond)
}

// TestHolderStop: stopping closes every held connection and refuses new ones.
func TestHolderStop(t *testing.T) {
	x := newHolderHarness(t, 5*time.Second)
	c := x.dial(t)
	x.h.stop()
	c.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("held connection after stop: %v, want EOF", err)
	}
	d, err := net.Dial("tcp", x.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	s, _ := x.ln.Accept()
	if held, stopped := x.h.add(s, time.Now()); held || !stopped {
		t.Fatalf("add after stop: held %v stopped %v", held, stopped)
	}
}
