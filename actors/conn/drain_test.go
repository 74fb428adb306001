package conn

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// trickle reads chunk bytes from c every every until stop is closed or c fails.
func trickle(c net.Conn, chunk int, every time.Duration, stop <-chan struct{}) {
	buf := make([]byte, chunk)
	for {
		select {
		case <-stop:
			return
		case <-time.After(every):
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			return
		}
	}
}

// pipePair is a synchronous in-memory connection (net.Pipe): every byte the writer
// gets rid of is one the peer read, with no socket buffer between.
func pipePair(t *testing.T) (server, client net.Conn) {
	server, client = net.Pipe()
	t.Cleanup(func() { server.Close(); client.Close() })
	return server, client
}

// TestWriteTrickleEnded: a peer that keeps taking a little (4 KiB every 100 ms,
// 40 KiB/s) resets the no-progress check each time, but drains less than
// minDrainRate while 16 MiB wait for it: the writer ends it within a few timeouts
// with a slowPeerError.
func TestWriteTrickleEnded(t *testing.T) {
	server, client := pipePair(t)
	const timeout = 400 * time.Millisecond
	errs := make(chan error, 1)
	fl := newFlow()
	w := newWriter(server, timeout, fl, func(err error) { errs <- err })
	for range 16 {
		w.send(bigBatch(1 << 20))
	}
	stop := make(chan struct{})
	defer close(stop)
	go trickle(client, 4<<10, 100*time.Millisecond, stop)
	start := time.Now()
	select {
	case err := <-errs:
		took := time.Since(start)
		var sp *slowPeerError
		if !errors.As(err, &sp) {
			t.Fatalf("writer failed with %v, want a slow peer", err)
		}
		if took > 3*timeout+300*time.Millisecond {
			t.Fatalf("trickling peer ended after %v, want within 3 timeouts (%v)", took, 3*timeout)
		}
		t.Logf("trickling peer ended after %v (timeout %v): %v", took, timeout, err)
	case <-time.After(10 * timeout):
		t.Fatal("a peer draining 40 KiB/s with 16 MiB queued was never ended")
	}
	w.end(time.Now().Add(time.Second))
}

// TestWriteSteadySlowNotEnded: a peer that drains faster than minDrainRate (about
// 200 KiB/s, in small reads) is never ended, over many timeouts.
func TestWriteSteadySlowNotEnded(t *testing.T) {
	server, client := pipePair(t)
	const timeout = 400 * time.Millisecond
	errs := make(chan error, 1)
	fl := newFlow()
	w := newWriter(server, timeout, fl, func(err error) { errs <- err })
	for range 16 {
		w.send(bigBatch(1 << 20))
	}
	stop := make(chan struct{})
	go trickle(client, 10<<10, 50*time.Millisecond, stop)
	select {
	case err := <-errs:
		t.Fatalf("a peer draining about 200 KiB/s was ended: %v", err)
	case <-time.After(6 * timeout):
	}
	close(stop)
	w.end(time.Now().Add(time.Second))
}
