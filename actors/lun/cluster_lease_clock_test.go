package lun

import (
	"bytes"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atgt/atgt/actors/prcluster"
	"github.com/atgt/atgt/actors/reservation"
	"github.com/atgt/atgt/actors/scsidev"
	"github.com/atgt/atgt/backend"
	"github.com/atgt/atgt/messages/scsi"
)

// TestLeaseRunOutByClockRefuses: a lease that has run out by the clock is
// refused before any message says so, as after a paused process whose lease
// timer has not fired yet (the store here stays healthy and never in doubt;
// the LUN is shown a lease that ends early). A command admitted then is
// answered NOT READY, and a WRITE admitted before and waiting in the workers'
// queue is refused by the worker right before its backend call.
func TestLeaseRunOutByClockRefuses(t *testing.T) {
	// The LUN is shown a lease of its own, 400 ms from now; the store's is 5 s
	// and renewed every 50 ms.
	const lease = 400 * time.Millisecond
	var end atomic.Int64
	start := time.Now()
	end.Store(int64(lease))
	real := leaseEndOf
	leaseEndOf = func(*prcluster.Store) (time.Time, time.Duration) {
		return start.Add(time.Duration(end.Load())), lease
	}
	t.Cleanup(func() { leaseEndOf = real })
	obj := prcluster.NewMemObject()
	hb := newHoldBackend(t)
	s, opt := withLeasedStore(t, obj, 1, 50*time.Millisecond, 5*time.Second)
	a := newLUNHarness(t, hb, opt, func(c *Config) { c.Workers = 1 })

	release := hb.hold("write", 8192)
	defer release()
	a.send(a.task(1, write10(16, 8, false), bytes.Repeat([]byte{1}, 4096)))
	hb.waitHeld(t, "write@8192")
	a.send(a.task(2, write10(200, 8, false), bytes.Repeat([]byte{2}, 4096)))
	time.Sleep(50 * time.Millisecond) // admitted, in the queue for the one worker
	if time.Since(start) >= lease {
		t.Fatal("too slow: the lease ran out before the WRITEs were admitted")
	}
	time.Sleep(time.Until(start.Add(lease))) // the lease runs out

	a.send(a.task(3, write10(300, 8, false), bytes.Repeat([]byte{3}, 4096)))
	expectCheck(t, "WRITE after the lease ran out", a.wait(1)[3], scsi.SenseNotReady, 0x04, 0x01)
	a.send(a.task(4, []byte{scsi.OpInquiry, 0, 0, 0, 36, 0}, nil))
	expectGood(t, "INQUIRY after the lease ran out", a.wait(1)[4])
	release()
	got := a.wait(2)
	expectGood(t, "WRITE in the backend when the lease ran out", got[1])
	expectCheck(t, "WRITE queued when the lease ran out", got[2], scsi.SenseNotReady, 0x04, 0x01)
	expectNotLanded(t, hb.Backend, 200*512, 2, "WRITE queued when the lease ran out")
	if s.InDoubt() {
		t.Fatal("the store went into doubt: the test does not show the clock check")
	}

	end.Store(int64(time.Hour)) // renewed
	a.send(a.task(5, write10(300, 8, false), bytes.Repeat([]byte{5}, 4096)))
	expectGood(t, "WRITE after the lease was renewed", a.wait(1)[5])
}

// TestAbandonedWriteHoldsFenceAck: a WRITE whose backend call the watchdog
// abandoned may still land. A reservation change that fences this node is
// acknowledged only once that call has returned, so the writer answers
// PREEMPT AND ABORT after it, not while it may still land.
func TestAbandonedWriteHoldsFenceAck(t *testing.T) {
	obj := prcluster.NewMemObject()
	hb := newHoldBackend(t)
	const wait = 3 * time.Second
	a := newLUNHarness(t, hb, withClusterStoreWait(t, obj, 1, wait), func(c *Config) { c.IOTimeout = 100 * time.Millisecond })
	b := newLUNHarness(t, backend.NewMemory(1<<20), withClusterStoreWait(t, obj, 2, wait))
	a.send(proutTask(a, 1, reservation.SARegister, 0, 0, 0xA))
	expectGood(t, "REGISTER via A", a.wait(1)[1])
	b.send(proutTask(b, 2, reservation.SARegister, 0, 0, 0xB))
	expectGood(t, "REGISTER via B", b.wait(1)[2])

	release := hb.hold("write", 8192)
	defer release()
	a.send(a.task(3, write10(16, 8, false), bytes.Repeat([]byte{3}, 4096)))
	hb.waitHeld(t, "write@8192")
	expectCheck(t, "WRITE abandoned by the watchdog", a.wait(1)[3], scsi.SenseAbortedCommand, 0x08, 0x01)

	b.send(proutTask(b, 4, reservation.SAPreemptAndAbort, reservation.TypeWriteExclusiveRegistrantsOnly, 0xB, 0xA))
	select {
	case m := <-b.done:
		t.Fatalf("PREEMPT AND ABORT answered (status %#x) while A's abandoned WRITE of the preempted nexus may still land", m.Status)
	case <-time.After(500 * time.Millisecond):
	}
	released := time.Now()
	release()
	m := b.wait(1)[4]
	expectGood(t, "PREEMPT AND ABORT via B", m)
	if d := time.Since(released); d > wait/2 {
		t.Fatalf("PREEMPT AND ABORT answered %v after the abandoned call returned: A did not acknowledge then", d)
	}
}

// TestCutOffAnswersQueuedWrite: a gateway cut off from the cluster answers the
// WRITE it admitted before and that waits in the workers' queue NOT READY,
// TARGET PORT IN UNAVAILABLE STATE, and never lets it reach the backend.
func TestCutOffAnswersQueuedWrite(t *testing.T) {
	loc := &blockingOwner{release: make(chan struct{}), group: 1}
	hb := newHoldBackend(t)
	h := newLUNHarness(t, hb, func(c *Config) {
		c.Workers = 1
		c.Device = scsidev.New(scsidev.Config{BlockSize: 512, Blocks: 2048, WriteCache: true, TargetName: "t",
			PortGroups: []uint16{1, 2}, TargetPortGroup: 1, RelativePortID: 1})
		c.ALUA = &ALUA{Local: 1, Groups: []uint16{1, 2}, Owner: &switchLock{}, Locate: loc,
			Poll: 5 * time.Millisecond, Hold: 20 * time.Millisecond, Stale: 100 * time.Millisecond}
	})
	defer h.sys.Shutdown()
	defer close(loc.release)
	release := hb.hold("write", 8192)
	defer release()
	// The states' changes after the start raise unit attentions: taken here,
	// until TEST UNIT READY has been GOOD for well over the hold.
	for itt, good := uint32(100), 0; good < 6; itt++ {
		h.send(h.task(itt, make([]byte, 6), nil))
		if m := h.wait(1)[itt]; m.Status == uint32(scsi.StatusGood) {
			good++
		} else if good = 0; itt > 200 {
			t.Fatalf("TEST UNIT READY before the cut: status %#x sense %x", m.Status, m.Sense)
		}
		time.Sleep(10 * time.Millisecond)
	}
	h.send(h.task(1, write10(16, 8, false), bytes.Repeat([]byte{1}, 4096)))
	hb.waitHeld(t, "write@8192")
	h.send(h.task(2, write10(200, 8, false), bytes.Repeat([]byte{2}, 4096)))
	time.Sleep(50 * time.Millisecond) // admitted, in the queue for the one worker

	loc.blocked.Store(true)
	// Answered once the node is cut off, while the call ahead of it still holds
	// the one worker.
	expectCheck(t, "WRITE queued when the node was cut off", h.wait(1)[2], scsi.SenseNotReady, 0x04, 0x0C)
	release()
	expectGood(t, "WRITE in the backend when the node was cut off", h.wait(1)[1])
	expectNotLanded(t, hb.Backend, 200*512, 2, "WRITE queued when the node was cut off")
}
