package prcluster

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atgt/atgt/actors/reservation"
	"github.com/atgt/atgt/messages/scsi"
)

// flaky wraps a node's handle with injected faults: failWrite makes the next
// Write land and then report an error (an OSD op timeout after the op was
// applied); failNotify makes that many Notifies (-1: every one) fail without
// reaching any watcher; failRead makes every Read fail; deaf drops every
// notification to this node's watch unacknowledged (a node cut off from the
// OSD while its watch still counts); mute drops the loss of the watch too (a
// watch whose end is never reported).
type flaky struct {
	Object
	failWrite            atomic.Bool
	failNotify           atomic.Int32
	failRead, deaf, mute atomic.Bool
	blindAfterWrite      atomic.Bool
}

func (f *flaky) Write(data []byte, version uint64) error {
	err := f.Object.Write(data, version)
	if err == nil && f.failWrite.CompareAndSwap(true, false) {
		if f.blindAfterWrite.Load() {
			f.failRead.Store(true)
		}
		return errors.New("rados: operation timed out (applied on the OSD all the same)")
	}
	return err
}

func (f *flaky) Read() ([]byte, uint64, error) {
	if f.failRead.Load() {
		return nil, 0, errors.New("rados: read timed out")
	}
	return f.Object.Read()
}

func (f *flaky) Notify(payload []byte, timeout time.Duration) ([]uint16, int, error) {
	if n := f.failNotify.Load(); n != 0 {
		if n > 0 {
			f.failNotify.Add(-1)
		}
		return nil, 0, errors.New("rados: notify failed")
	}
	return f.Object.Notify(payload, timeout)
}

func (f *flaky) Watch() (<-chan Event, error) {
	in, err := f.Object.Watch()
	if err != nil {
		return nil, err
	}
	out := make(chan Event, 64)
	go func() {
		for ev := range in {
			if ev.Err == nil && f.deaf.Load() || f.mute.Load() {
				continue
			}
			out <- ev
		}
		if !f.mute.Load() {
			close(out)
		}
	}()
	return out, nil
}

// fencedSetup: node A (initiator A registered and holding WE-RO through A) and
// node B on a flaky handle, as fence_scsi leaves them before B fences A.
func fencedSetup(t *testing.T, fa *flaky) (*node, *node, *flaky, *MemObject) {
	m := NewMemObject()
	var a *node
	if fa != nil {
		fa.Object = m.Handle()
		a = newNodeOn(t, fa, 1)
	} else {
		a = newNode(t, m, 1)
	}
	fb := &flaky{Object: m.Handle()}
	b := newNodeOn(t, fb, 2)
	good(t, a.prout(initA, reservation.SARegister, 0, 0, 0xA), "REGISTER A")
	good(t, b.prout(initB, reservation.SARegister, 0, 0, 0xB), "REGISTER B")
	good(t, a.prout(initA, reservation.SAReserve, reservation.TypeWriteExclusiveRegistrantsOnly, 0xA, 0), "RESERVE")
	if a.conflicts(initA) {
		t.Fatal("holder conflicts before the fence")
	}
	return a, b, fb, m
}

// preemptA is fence_scsi's step through node B: PREEMPT AND ABORT of A's key.
func preemptA(b *node) reservation.Outcome {
	return b.prout(initB, reservation.SAPreemptAndAbort, reservation.TypeWriteExclusiveRegistrantsOnly, 0xB, 0xA)
}

// A notify that fails is sent again: when the PREEMPT AND ABORT is answered
// GOOD, node A already refuses the fenced initiator.
func TestNotifyFailureRetried(t *testing.T) {
	a, b, fb, _ := fencedSetup(t, nil)
	fb.failNotify.Store(1)
	good(t, preemptA(b), "PREEMPT AND ABORT")
	if !a.conflicts(initA) {
		t.Fatal("PREEMPT AND ABORT answered GOOD, but node A still admits the fenced initiator's WRITE")
	}
}

// A notify that never gets through: the PREEMPT AND ABORT is answered only
// after the staleness bound, by when node A has reread the object (and its
// own node B has the state for READ KEYS).
func TestNotifyNeverDeliveredWaitsOutLease(t *testing.T) {
	a, b, fb, _ := fencedSetup(t, nil)
	a.s.SetLease(50*time.Millisecond, 500*time.Millisecond)
	b.s.SetLease(50*time.Millisecond, 500*time.Millisecond)
	fb.failNotify.Store(-1)
	start := time.Now()
	good(t, preemptA(b), "PREEMPT AND ABORT")
	if d := time.Since(start); d < 550*time.Millisecond {
		t.Fatalf("answered after %v, before the staleness bound (600 ms)", d)
	}
	if !a.conflicts(initA) {
		t.Fatal("node A still admits the fenced initiator after the staleness bound")
	}
	if _, keys := b.keys(); len(keys) != 1 || keys[0] != 0xB {
		t.Fatalf("READ KEYS through B: %x, want [b]", keys)
	}
}

// A write that lands but reports an error is read back: it landed, so every
// node is told and the PREEMPT AND ABORT is answered GOOD.
func TestWriteErrorThatLandedAnnounced(t *testing.T) {
	a, b, fb, _ := fencedSetup(t, nil)
	fb.failWrite.Store(true)
	good(t, preemptA(b), "PREEMPT AND ABORT whose write reported an error after landing")
	if !a.conflicts(initA) {
		t.Fatal("fenced initiator still admitted on node A")
	}
	if _, keys := b.keys(); len(keys) != 1 || keys[0] != 0xB {
		t.Fatalf("READ KEYS through B: %x, want [b]", keys)
	}
}

// A write that lands, reports an error, and cannot be read back: the PROUT
// fails. The initiator's retry finds nothing to change (the key is gone) and
// is answered RESERVATION CONFLICT, but every node is told of the state all
// the same.
func TestRetryFindingChangeMadeAnnounces(t *testing.T) {
	a, b, fb, _ := fencedSetup(t, nil)
	fb.failWrite.Store(true)
	fb.blindAfterWrite.Store(true)
	if o := preemptA(b); o.Status != scsi.StatusCheckCondition {
		t.Fatalf("PREEMPT AND ABORT whose outcome is unknown: status %#x, want CHECK CONDITION", o.Status)
	}
	fb.failRead.Store(false)
	if o := preemptA(b); o.Status != scsi.StatusReservationConflict {
		t.Fatalf("retried PREEMPT AND ABORT: status %#x, want RESERVATION CONFLICT (A's key is gone)", o.Status)
	}
	if !a.conflicts(initA) {
		t.Fatal("after the retry, node A still admits the fenced initiator")
	}
	if _, keys := b.keys(); len(keys) != 1 || keys[0] != 0xB {
		t.Fatalf("READ KEYS through B: %x, want [b]", keys)
	}
}

// Every node rereads the object periodically: a change nobody was told of
// (a notify lost, a write that landed late) reaches it within RereadEvery.
func TestPeriodicRereadFindsUntoldChange(t *testing.T) {
	m := NewMemObject()
	a := newNode(t, m, 1)
	a.s.SetLease(50*time.Millisecond, time.Second)
	writeUntold(t, m, initA, 0xA)
	waitFor(t, 2*time.Second, "node A to find the untold change", func() bool {
		_, keys := a.keys()
		return len(keys) == 1
	})
}

// A node cut off from the object (its reads fail) whose watch still counts
// at the OSD misses the notification of B's fence; it cannot know, but its
// lease runs out: by the time B's PREEMPT AND ABORT is answered, node A is in
// doubt (its LUN refuses commands). Once it can read again it rereads and
// admits again, under the new state.
func TestSilentNodeInDoubtBeforeFenceAnswered(t *testing.T) {
	fa := &flaky{}
	a, b, _, _ := fencedSetup(t, fa)
	a.s.SetLease(50*time.Millisecond, 500*time.Millisecond)
	b.s.SetLease(50*time.Millisecond, 500*time.Millisecond)
	b.s.SetNotifyWait(200 * time.Millisecond)
	fa.failRead.Store(true)
	fa.deaf.Store(true)
	good(t, preemptA(b), "PREEMPT AND ABORT")
	a.mu.Lock()
	doubt := a.doubt
	a.mu.Unlock()
	if !doubt || !a.s.InDoubt() {
		t.Fatal("PREEMPT AND ABORT answered while node A, which missed it, is not in doubt")
	}
	fa.failRead.Store(false)
	fa.deaf.Store(false)
	waitFor(t, 3*time.Second, "node A to reread and leave doubt", func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		return !a.doubt
	})
	if !a.conflicts(initA) {
		t.Fatal("node A out of doubt still admits the fenced initiator")
	}
}

// A notification a node cannot decode is not acknowledged with the old cache:
// the node rereads first, so when the notify returns every node has the state.
func TestUndecodableNotificationRereadBeforeAck(t *testing.T) {
	m := NewMemObject()
	a := newNode(t, m, 1)
	writeUntold(t, m, initA, 0xA)
	acked, missed, err := m.Handle().Notify([]byte(`{"epoch":"from a newer atgt"}`), 5*time.Second)
	if err != nil || len(acked) != 1 || missed != 0 {
		t.Fatalf("notify: acked %v missed %d err %v", acked, missed, err)
	}
	if _, keys := a.keys(); len(keys) != 1 || keys[0] != 0xA {
		t.Fatalf("node A acknowledged an unreadable notification with keys %x, want the object's [a]", keys)
	}
}

// A lost watch puts the node in doubt until it watches again and rereads.
func TestWatchLostInDoubtUntilReread(t *testing.T) {
	fa := &flaky{}
	m := NewMemObject()
	fa.Object = m.Handle()
	a := newNodeOn(t, fa, 1)
	fa.failRead.Store(true)
	fa.Object.(*memHandle).drop()
	waitFor(t, 2*time.Second, "node A in doubt after its watch was lost", func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		return a.doubt
	})
	fa.failRead.Store(false)
	waitFor(t, 3*time.Second, "node A out of doubt after rereading", func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		return !a.doubt
	})
}

// writeUntold registers nexus with key in the object without any notification.
func writeUntold(t *testing.T, m *MemObject, nexus string, key uint64) {
	t.Helper()
	h := m.Handle()
	data, ver, _ := h.Read()
	tb, err := reservation.DecodeCluster(data)
	if err != nil {
		t.Fatal(err)
	}
	tb.Execute(reservation.Nexus{ID: nexus, RelativeTargetPort: 1}, proutCDB(reservation.SARegister, 0), params(0, key))
	if err := h.Write(tb.EncodeCluster(nextEpoch(tb.Epoch())), ver); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
