package lun

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/atgt/atgt/actors/prcluster"
	"github.com/atgt/atgt/actors/reservation"
	"github.com/atgt/atgt/backend"
	"github.com/atgt/atgt/messages/scsi"
)

// proutParams is a PERSISTENT RESERVE OUT's CDB and parameter list, for a
// change a test writes into the shared object as another gateway would.
func proutParams(sa, typ uint8, key, saKey uint64) ([]byte, []byte) {
	cdb := make([]byte, 10)
	cdb[0], cdb[1], cdb[2] = scsi.OpPersistentReserveOut, sa, typ
	binary.BigEndian.PutUint32(cdb[5:9], 24)
	p := make([]byte, 24)
	binary.BigEndian.PutUint64(p[0:8], key)
	binary.BigEndian.PutUint64(p[8:16], saKey)
	return cdb, p
}

// expectNotLanded fails if the block at off holds fill.
func expectNotLanded(t *testing.T, b backend.Backend, off int64, fill byte, what string) {
	t.Helper()
	buf := make([]byte, 4096)
	if _, err := b.ReadAt(buf, off); err != nil {
		t.Fatal(err)
	}
	if buf[0] == fill {
		t.Errorf("%s landed on the medium", what)
	}
}

// TestUndecodableNoticeAckWaitsForFence (review R2): another gateway's PREEMPT
// AND ABORT of the nexus that has a WRITE in this node's backend. This node's
// periodic reread brings the new state first (the LUN installs it and fences:
// the WRITE holds the fence); then the writer's notification arrives and this
// node cannot decode it (its ack is held until a reread). The reread finds
// nothing newer, so the Update that releases the ack has no Table: the ack
// must join the fence, not be given at once, or the writer counts this node
// as done while the preempted nexus's WRITE is still in the backend.
func TestUndecodableNoticeAckWaitsForFence(t *testing.T) {
	obj := prcluster.NewMemObject()
	hb := newHoldBackend(t)
	s, opt := withLeasedStore(t, obj, 1, 30*time.Millisecond, 5*time.Second)
	a := newLUNHarness(t, hb, opt)
	a.send(proutTask(a, 1, reservation.SARegister, 0, 0, 0xA))
	expectGood(t, "REGISTER via A", a.wait(1)[1])

	release := hb.hold("write", 8192)
	defer release()
	a.send(a.task(2, write10(16, 8, false), bytes.Repeat([]byte{2}, 4096)))
	hb.waitHeld(t, "write@8192")

	// Gateway 2's PREEMPT AND ABORT lands in the object (as its store writes it).
	h := obj.Handle()
	data, v, err := h.Read()
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := reservation.DecodeCluster(data)
	if err != nil {
		t.Fatal(err)
	}
	other := reservation.Nexus{ID: "iqn.other", RelativeTargetPort: 2}
	cdb, p := proutParams(reservation.SARegister, 0, 0, 0xB)
	if out, _ := tbl.Execute(other, cdb, p); out.Status != scsi.StatusGood {
		t.Fatalf("register other: %+v", out)
	}
	cdb, p = proutParams(reservation.SAPreemptAndAbort, reservation.TypeWriteExclusiveRegistrantsOnly, 0xB, 0xA)
	if out, _ := tbl.Execute(other, cdb, p); out.Status != scsi.StatusGood {
		t.Fatalf("preempt: %+v", out)
	}
	epoch := tbl.Epoch() + 1000
	if err := h.Write(tbl.EncodeCluster(epoch), v); err != nil {
		t.Fatal(err)
	}
	// This node's periodic reread gets there before the notification.
	deadline := time.Now().Add(5 * time.Second)
	for s.Cache().Epoch() != epoch {
		if time.Now().After(deadline) {
			t.Fatal("the reread never brought the new state")
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // the LUN has the Update and fences
	// The notification, which this node cannot decode.
	acked, missed, _ := h.Notify([]byte("not json"), time.Second)
	if len(acked) != 0 {
		t.Errorf("notification acknowledged (acked %v, missed %d) while the preempted nexus's WRITE, admitted "+
			"under the old state, is still in the backend: the writer answers PREEMPT AND ABORT at once", acked, missed)
	}
}

// TestDoubtAnswersQueuedWrite (review R3): README "A gateway that may not
// serve": "An IO admitted before the change and not yet started gets the same
// answer; none reaches the backend." With the reservations in doubt, a WRITE
// waiting in the workers' queue (admitted before the doubt) is answered NOT
// READY and never reaches the backend.
func TestDoubtAnswersQueuedWrite(t *testing.T) {
	obj := prcluster.NewMemObject()
	hb := newHoldBackend(t)
	s, opt := withLeasedStore(t, obj, 1, 50*time.Millisecond, 5*time.Second)
	a := newLUNHarness(t, hb, opt, func(c *Config) { c.Workers = 1 })
	release := hb.hold("write", 8192)
	defer release()
	a.send(a.task(1, write10(16, 8, false), bytes.Repeat([]byte{1}, 4096)))
	hb.waitHeld(t, "write@8192")
	a.send(a.task(2, write10(200, 8, false), bytes.Repeat([]byte{2}, 4096)))
	time.Sleep(100 * time.Millisecond) // admitted, waiting in the queue for the one worker

	obj.SetUnreadable(true)
	obj.DropWatches()
	waitDoubt(t, s, true)
	release()
	got := a.wait(2)
	expectGood(t, "WRITE in the backend when the doubt began", got[1])
	expectCheck(t, "WRITE queued when the doubt began", got[2], scsi.SenseNotReady, 0x04, 0x01)
	expectNotLanded(t, hb.Backend, 200*512, 2, "WRITE queued when the doubt began")
}

// TestPausedGatewayRefusesAfterLease (review R1): a gateway whose LUN stalls
// (here its mailbox suspended; in life a paused process, SIGSTOP or a VM
// freeze, whose timers and socket reads race at resume) holds a WRITE of the
// nexus another gateway preempts. The writer waits out the staleness bound
// and answers PREEMPT AND ABORT GOOD; when the LUN resumes, the WRITE, ahead
// of the change in its mailbox, is refused (the change has waited unapplied
// longer than the lease allows) and never lands.
func TestPausedGatewayRefusesAfterLease(t *testing.T) {
	obj := prcluster.NewMemObject()
	const wait = 300 * time.Millisecond
	hb := newHoldBackend(t)
	b := newLUNHarness(t, hb, withClusterStoreWait(t, obj, 2, wait))
	a := newLUNHarness(t, backend.NewMemory(1<<20), withClusterStoreWait(t, obj, 1, wait))
	b.send(proutTask(b, 1, reservation.SARegister, 0, 0, 0xB))
	expectGood(t, "REGISTER via B", b.wait(1)[1])
	b.send(proutTask(b, 2, reservation.SAReserve, reservation.TypeWriteExclusiveRegistrantsOnly, 0xB, 0))
	expectGood(t, "RESERVE via B", b.wait(1)[2])
	a.send(proutTask(a, 3, reservation.SARegister, 0, 0, 0xA))
	expectGood(t, "REGISTER via A", a.wait(1)[3])

	proc, _ := b.sys.ProcessRegistry.Get(b.lun)
	proc.SendSystemMessage(b.lun, &actor.SuspendMailbox{})
	b.send(b.task(4, write10(16, 8, false), bytes.Repeat([]byte{4}, 4096))) // in B's task set before the preempt
	a.send(proutTask(a, 5, reservation.SAPreemptAndAbort, reservation.TypeWriteExclusiveRegistrantsOnly, 0xA, 0xB))
	expectGood(t, "PREEMPT AND ABORT via A", a.wait(1)[5])
	proc.SendSystemMessage(b.lun, &actor.ResumeMailbox{})
	m := b.wait(1)[4]
	expectCheck(t, "preempted nexus's WRITE through B after PREEMPT AND ABORT was answered", m, scsi.SenseNotReady, 0x04, 0x01)
	expectNotLanded(t, hb.Backend, 8192, 4, "preempted nexus's WRITE through B")
}

// TestStalledGatewayWorkerRefusesQueuedWrite: as above, but the preempted
// nexus's WRITE was admitted before the stall and waits in the workers' queue
// behind a call in the backend. The workers take IO on their own, without the
// stalled LUN; once the change has waited unapplied longer than the lease
// allows, the worker refuses the WRITE right before the backend call.
func TestStalledGatewayWorkerRefusesQueuedWrite(t *testing.T) {
	obj := prcluster.NewMemObject()
	const wait = 300 * time.Millisecond
	hb := newHoldBackend(t)
	b := newLUNHarness(t, hb, withClusterStoreWait(t, obj, 2, wait), func(c *Config) { c.Workers = 1 })
	a := newLUNHarness(t, backend.NewMemory(1<<20), withClusterStoreWait(t, obj, 1, wait))
	b.send(proutTask(b, 1, reservation.SARegister, 0, 0, 0xB))
	expectGood(t, "REGISTER via B", b.wait(1)[1])
	a.send(proutTask(a, 2, reservation.SARegister, 0, 0, 0xA))
	expectGood(t, "REGISTER via A", a.wait(1)[2])

	release := hb.hold("write", 8192)
	defer release()
	b.send(b.task(3, write10(16, 8, false), bytes.Repeat([]byte{3}, 4096)))
	hb.waitHeld(t, "write@8192")
	b.send(b.task(4, write10(200, 8, false), bytes.Repeat([]byte{4}, 4096)))
	time.Sleep(50 * time.Millisecond) // admitted, in the queue for the one worker

	proc, _ := b.sys.ProcessRegistry.Get(b.lun)
	proc.SendSystemMessage(b.lun, &actor.SuspendMailbox{})
	defer proc.SendSystemMessage(b.lun, &actor.ResumeMailbox{})
	a.send(proutTask(a, 5, reservation.SAPreemptAndAbort, reservation.TypeWriteExclusiveRegistrantsOnly, 0xA, 0xB))
	expectGood(t, "PREEMPT AND ABORT via A", a.wait(1)[5])
	release()
	got := b.wait(2)
	expectGood(t, "WRITE in the backend before the preempt", got[3])
	expectCheck(t, "queued WRITE of the preempted nexus", got[4], scsi.SenseNotReady, 0x04, 0x01)
	expectNotLanded(t, hb.Backend, 200*512, 4, "queued WRITE of the preempted nexus")
}
