package conn

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/atgt/atgt/messages/iscsi"
)

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(t *testing.T) (server, client net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close(); client.Close() })
	return server, client
}

// bigBatch is one PDU with n bytes of data.
func bigBatch(n int) outBatch {
	return outBatch{pdus: []*iscsi.PDU{{Data: make([]byte, n)}}}
}

// TestWriteTimeout: a peer that reads nothing has the writer fail between the
// timeout and 1.25 times it after the last progress, with the socket closed and a
// waiting reader released.
func TestWriteTimeout(t *testing.T) {
	server, _ := tcpPair(t)
	const timeout = 400 * time.Millisecond
	errs := make(chan error, 1)
	fl := newFlow()
	w := newWriter(server, timeout, fl, func(err error) { errs <- err })
	start := time.Now()
	for range 64 { // 64 MiB: far more than the socket buffers hold
		w.send(bigBatch(1 << 20))
	}
	select {
	case err := <-errs:
		took := time.Since(start)
		var st *stalledPeerError
		if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &st) {
			t.Fatalf("writer failed with %v, want a stalled peer's deadline (slowPeer warns and counts it)", err)
		}
		// The upper bound allows for a loaded machine under -race (801 ms once,
		// against 800 ms before, while other tests ran): a deadline renewed for
		// each batch would take 64 timeouts.
		if limit := 3 * timeout; took < timeout || took > limit {
			t.Fatalf("writer failed after %v, want %v..%v", took, timeout, limit)
		}
		t.Logf("stalled writer failed after %v (timeout %v)", took, timeout)
	case <-time.After(10 * time.Second):
		t.Fatal("writer never timed out")
	}
	select {
	case <-fl.done:
	case <-time.After(time.Second):
		t.Fatal("flow not released when the writer ended")
	}
	w.end(time.Now().Add(time.Second))
}

// TestWriteTimeoutSlowReader: a peer that reads slowly but keeps reading is never
// cut off, however long the whole takes.
func TestWriteTimeoutSlowReader(t *testing.T) {
	server, client := tcpPair(t)
	const timeout = 400 * time.Millisecond
	errs := make(chan error, 1)
	fl := newFlow()
	w := newWriter(server, timeout, fl, func(err error) { errs <- err })
	const total = 16 << 20
	for range 16 {
		w.send(bigBatch(1 << 20))
	}
	// Let the socket buffers fill first, so that every later byte waits for a read.
	time.Sleep(200 * time.Millisecond)
	got := 0
	buf := make([]byte, 1<<20)
	start := time.Now()
	for got < total+16*iscsi.BHSLength {
		n, err := client.Read(buf)
		got += n
		if err != nil {
			t.Fatalf("read after %d bytes: %v", got, err)
		}
		time.Sleep(timeout / 8)
		select {
		case err := <-errs:
			t.Fatalf("slow but steady reader cut off after %v, %d bytes: %v", time.Since(start), got, err)
		default:
		}
	}
	if time.Since(start) < timeout {
		t.Logf("read everything in %v: not slow enough to mean much", time.Since(start))
	}
	for deadline := time.Now().Add(time.Second); fl.queued.Load() != 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d bytes still counted queued after all was read", fl.queued.Load())
		}
	}
	w.end(time.Now().Add(time.Second))
	if _, err := client.Read(buf); err != io.EOF {
		t.Fatalf("after end: %v, want EOF", err)
	}
}

// TestFlowWait: the reader's wait holds while the writer is behind and ends when it
// catches up or the connection closes.
func TestFlowWait(t *testing.T) {
	fl := newFlow()
	fl.queued.Add(maxQueuedBytes + 1)
	done := make(chan struct{})
	go func() { fl.wait(); close(done) }()
	select {
	case <-done:
		t.Fatal("wait returned while over the bound")
	case <-time.After(50 * time.Millisecond):
	}
	fl.sent(2)
	select {
	case <-done:
	case <-time.After(time.Second):
		t.Fatal("wait not released when the queue drained")
	}
	fl.unread.Add(maxUnread + 1)
	done = make(chan struct{})
	go func() { fl.wait(); close(done) }()
	time.Sleep(20 * time.Millisecond)
	fl.closed()
	select {
	case <-done:
	case <-time.After(time.Second):
		t.Fatal("wait not released when the connection closed")
	}
}
