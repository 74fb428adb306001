//go:build ceph

package backend

import (
	"errors"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/ceph/go-ceph/rados"

	"github.com/atgt/atgt/tests/cephtest"
)

// testEvent is a user's own event type, as RadosWatch delivers it.
type testEvent struct {
	Data []byte
	Ack  func()
	Err  error
}

// TestRadosObjectBlocklisted: the object's client blocklisted (`ceph osd
// blocklist add`) loses its watch; watching again lands on a new client, and a
// notification travels on it. Blocklisted again, a Do call fails with the
// blocklist error and the next one runs on a new client. After Close every
// call is refused.
func TestRadosObjectBlocklisted(t *testing.T) {
	c := cephtest.Shared(t)
	oid := fmt.Sprintf("atgt.test.%d", time.Now().UnixNano())
	o, err := OpenRadosObject("admin", c.Conf, "rbd", "", oid)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	events, err := RadosWatch[testEvent](o, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}

	old := o.ClientAddr()
	c.Blocklist(t, old)
	select {
	case ev := <-events:
		if ev.Err == nil {
			t.Fatalf("an event %q instead of the watch's loss", ev.Data)
		}
		t.Logf("watch lost: %v", ev.Err)
	case <-time.After(60 * time.Second):
		t.Fatal("watch not lost 60 s after the blocklist")
	}
	deadline := time.Now().Add(30 * time.Second)
	for o.ClientAddr() == old {
		if time.Now().After(deadline) {
			t.Fatal("still on the blocklisted client 30 s after the watch was lost")
		}
		if events, err = RadosWatch[testEvent](o, 10*time.Second); err != nil {
			t.Logf("watch: %v", err)
			time.Sleep(100 * time.Millisecond)
		}
	}
	if events == nil { // the last attempt failed, on the old client
		if events, err = RadosWatch[testEvent](o, 10*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	type result struct {
		acked, missed int
		err           error
	}
	done := make(chan result, 1)
	go func() {
		acks, missed, err := o.Notify([]byte("hello"), 10*time.Second)
		done <- result{len(acks), missed, err}
	}()
	select {
	case ev := <-events:
		if ev.Err != nil || string(ev.Data) != "hello" {
			t.Fatalf("event on the new client: %q, %v", ev.Data, ev.Err)
		}
		ev.Ack()
	case <-time.After(15 * time.Second):
		t.Fatal("no notification on the new client's watch")
	}
	if r := <-done; r.err != nil || r.acked != 1 || r.missed != 0 {
		t.Fatalf("notify: %d acked, %d missed, %v; want 1, 0, nil", r.acked, r.missed, r.err)
	}

	stat := func(ioctx *rados.IOContext) error { _, err := ioctx.Stat(oid); return err }
	old = o.ClientAddr()
	c.Blocklist(t, old)
	deadline = time.Now().Add(60 * time.Second)
	for err = o.Do(stat); !RadosBlocklisted(err); err = o.Do(stat) {
		if err != nil {
			t.Fatalf("Do on the blocklisted client: %v, want the blocklist's error or none yet", err)
		}
		if time.Now().After(deadline) {
			t.Fatal("Do still works 60 s after the blocklist")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if o.ClientAddr() == old {
		t.Fatal("Do met the blocklist and kept the client")
	}
	if err := o.Do(stat); err != nil {
		t.Fatalf("Do on the new client: %v", err)
	}

	if err := o.Do(func(ioctx *rados.IOContext) error { return ioctx.Delete(oid) }); err != nil {
		t.Error(err)
	}
	o.Close()
	if err := o.DoShared(stat); !errors.Is(err, ErrRadosClosed) {
		t.Errorf("DoShared after Close: %v", err)
	}
	if _, _, err := o.Notify(nil, time.Second); !errors.Is(err, ErrRadosClosed) {
		t.Errorf("Notify after Close: %v", err)
	}
	if _, err := RadosWatch[testEvent](o, 0); !errors.Is(err, ErrRadosClosed) {
		t.Errorf("Watch after Close: %v", err)
	}
}

// TestRadosObjectBlocklistCommand: Blocklist fences another client (`osd
// blocklist add` as a monitor command): that client's next call fails with the
// blocklist's error and runs on a new client after it; its watch, retired with
// the client, ends with an error event, never a bare close (a reader that took
// a close for the end of everything would never watch again), even when Do
// replaced the client before librados reported the watch's loss.
func TestRadosObjectBlocklistCommand(t *testing.T) {
	c := cephtest.Shared(t)
	oid := fmt.Sprintf("atgt.test.%d", time.Now().UnixNano())
	open := func() *RadosObject {
		o, err := OpenRadosObject("admin", c.Conf, "rbd", "", oid)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { o.Close() })
		return o
	}
	a, b := open(), open()
	events, err := RadosWatch[testEvent](b, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	old := b.ClientAddr()
	if err := a.Blocklist(old); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Ceph("osd", "blocklist", "rm", old) })
	stat := func(ioctx *rados.IOContext) error { _, err := ioctx.Stat(oid); return err }
	deadline := time.Now().Add(30 * time.Second)
	for err = b.Do(stat); !RadosBlocklisted(err); err = b.Do(stat) {
		if err != nil {
			t.Fatalf("Do on the blocklisted client: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatal("Do still works 30 s after Blocklist")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if b.ClientAddr() == old {
		t.Fatal("Do met the blocklist and kept the client")
	}
	select {
	case ev, ok := <-events:
		if !ok {
			t.Fatal("the retired watch's channel closed without an error event")
		}
		if ev.Err == nil {
			t.Fatalf("an event %q instead of the watch's loss", ev.Data)
		}
		t.Logf("watch ended: %v", ev.Err)
	case <-time.After(10 * time.Second):
		t.Fatal("the retired watch never ended (its pump is stuck)")
	}
	if err := a.Do(func(ioctx *rados.IOContext) error { return ioctx.Delete(oid) }); err != nil {
		t.Error(err)
	}
}

// shutdownErr is librados' answer to a blocklisted client, as RadosErrno reads it.
type shutdownErr struct{}

func (shutdownErr) Error() string {
	return "rados: ret=-108, Cannot send after transport endpoint shutdown"
}
func (shutdownErr) ErrorCode() int { return -int(syscall.ESHUTDOWN) }

// TestRadosObjectWatchRetired: a call that meets the blocklist replaces the
// client before librados reported the watch's loss (here: the old client is not
// blocklisted at all, so its watch never errs and Watcher.Delete succeeds and
// closes its channels). The watch's reader still gets an error event, never a
// bare close, so that it watches again on the new client.
func TestRadosObjectWatchRetired(t *testing.T) {
	c := cephtest.Shared(t)
	oid := fmt.Sprintf("atgt.test.%d", time.Now().UnixNano())
	o, err := OpenRadosObject("admin", c.Conf, "rbd", "", oid)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	events, err := RadosWatch[testEvent](o, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	old := o.ClientAddr()
	if err := o.Do(func(*rados.IOContext) error { return shutdownErr{} }); !RadosBlocklisted(err) {
		t.Fatalf("Do: %v", err)
	}
	if o.ClientAddr() == old {
		t.Fatal("the client was not replaced")
	}
	select {
	case ev, ok := <-events:
		if !ok {
			t.Fatal("the retired watch's channel closed without an error event")
		}
		if !errors.Is(ev.Err, ErrRadosWatchRetired) {
			t.Fatalf("event %q, %v; want ErrRadosWatchRetired", ev.Data, ev.Err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the retired watch never ended")
	}
	if err := o.Do(func(ioctx *rados.IOContext) error { return ioctx.Delete(oid) }); err != nil {
		t.Error(err)
	}
}
