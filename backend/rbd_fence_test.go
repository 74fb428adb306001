//go:build ceph

package backend

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

// TestRBDBlocklistReconnect: a gateway's client blocklisted by the cluster (`ceph osd
// blocklist add`, as librbd does to a lock owner whose lock another gateway breaks).
// The backend notices, fails the write librbd held instead of hanging on it, refuses
// every call with ErrFenced, and after Reconnect serves again on a new client: it
// reads what another gateway wrote meanwhile, not its own failed write, and its
// writes land.
func TestRBDBlocklistReconnect(t *testing.T) {
	a, c, name := openRBDImage(t, 16<<20)
	fa := a.(Fenceable)
	causes := make(chan error, 4)
	fa.OnFenced(func(cause error) { causes <- cause })
	block := func(v byte) []byte { return bytes.Repeat([]byte{v}, 4096) }
	if err := a.WriteAt(block(1), 0, true); err != nil { // a takes the lock
		t.Fatal(err)
	}
	oldAddr := a.(*rbdBackend).ClientAddr()
	c.Blocklist(t, oldAddr)
	blocked := time.Now()
	// A write after the blocklist: librbd holds it, waiting for a lock it can never
	// take again; the fence must fail it.
	late := make(chan error, 1)
	go func() { late <- a.WriteAt(block(2), 0, true) }()
	var cause error
	select {
	case cause = <-causes:
	case <-time.After(15 * time.Second):
		t.Fatal("blocklisting not noticed within 15 s")
	}
	t.Logf("fenced %v after the blocklist: %v", time.Since(blocked).Round(time.Millisecond), cause)
	select {
	case err := <-late:
		if err == nil {
			t.Fatal("a write after the blocklist succeeded")
		}
		t.Logf("the late write: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("the late write still hangs after the fence")
	}
	if _, err := a.ReadAt(make([]byte, 4096), 0); !errors.Is(err, ErrFenced) {
		t.Fatalf("read while fenced: %v, want ErrFenced", err)
	}
	// Another gateway writes newer data meanwhile (breaking the dead owner's lock).
	b, err := OpenRBD(RBDOptions{Pool: "rbd", Image: name, User: "admin", CephConf: c.Conf})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.WriteAt(block(3), 0, true); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := fa.Reconnect(nil, func(err error, next time.Duration) { t.Logf("reconnect: %v (next in %v)", err, next) }); err != nil {
		t.Fatal(err)
	}
	t.Logf("reconnected in %v on %s (was %s)", time.Since(start).Round(time.Millisecond), a.(*rbdBackend).ClientAddr(), oldAddr)
	if a.(*rbdBackend).ClientAddr() == oldAddr {
		t.Fatal("the same client address after reconnecting")
	}
	mustRead(t, a, 0, block(3))
	if err := a.WriteAt(block(4), 4096, true); err != nil { // the lock comes back
		t.Fatal(err)
	}
	mustRead(t, b, 4096, block(4))
	mustRead(t, b, 0, block(3))
}

// TestRBDBlocklistIdle: a client blocklisted while it holds no lock and does no IO
// is noticed by the poller, and without an OnFenced function the backend reconnects
// by itself; the old client, which holds no request, is closed.
func TestRBDBlocklistIdle(t *testing.T) {
	a, c, _ := openRBDImage(t, 4<<20)
	rb := a.(*rbdBackend)
	rb.mu.RLock()
	oldHandle := rb.h
	rb.mu.RUnlock()
	old := rb.ClientAddr()
	c.Blocklist(t, old)
	deadline := time.Now().Add(30 * time.Second)
	for a.(*rbdBackend).ClientAddr() == old {
		if time.Now().After(deadline) {
			t.Fatal("not reconnected within 30 s of the blocklist")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := a.ReadAt(make([]byte, 4096), 0); err != nil {
		t.Fatal(err)
	}
	if err := a.WriteAt(make([]byte, 4096), 0, true); err != nil {
		t.Fatal(err)
	}
	select {
	case <-oldHandle.aio.done: // closed after rbd_close returned
	case <-time.After(10 * time.Second):
		t.Fatal("the old client not closed 10 s after reconnecting")
	}
}
