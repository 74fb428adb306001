package lun

import (
	"encoding/binary"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atgt/atgt/backend"
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/scsi"
)

// gatedReads holds the first ReadAt once armed until release is closed.
type gatedReads struct {
	backend.Backend
	armed   atomic.Bool
	entered chan struct{}
	release chan struct{}
}

func (g *gatedReads) ReadAt(p []byte, off int64) (int, error) {
	if g.armed.CompareAndSwap(true, false) {
		close(g.entered)
		<-g.release
	}
	return g.Backend.ReadAt(p, off)
}

// expectOnce waits for the answers of itts, each exactly once, and fails on a
// second answer to any of them within a short while after.
func expectOnce(t *testing.T, h *lunHarness, itts ...uint32) map[uint32]*pb.ScsiCompletion {
	t.Helper()
	got := h.wait(len(itts))
	for _, itt := range itts {
		if got[itt] == nil {
			t.Fatalf("task %d not answered (answers %v)", itt, got)
		}
	}
	select {
	case m := <-h.done:
		t.Fatalf("a second answer: itt %d status %#x", m.Itt, m.Status)
	case <-time.After(200 * time.Millisecond):
	}
	return got
}

// orderedStillRuns checks that the task counts came back to zero: an ORDERED
// READ, which waits for every task before it, is answered (after the unit
// attention the recovery raises, POWER ON, RESET).
func orderedStillRuns(t *testing.T, h *lunHarness, itt uint32) {
	t.Helper()
	for try := uint32(0); try < 2; try++ {
		o := h.task(itt+try, read10(512, 1), nil)
		o.Read, o.ExpectedLength = true, 512
		o.Attribute = pb.TaskAttribute_TASK_ATTRIBUTE_ORDERED
		h.send(o)
		m := h.wait(1)[itt+try]
		if k, asc, _ := senseOf(m.Sense); try == 0 && m.Status == uint32(scsi.StatusCheckCondition) && k == 0x6 && asc == 0x29 {
			continue
		}
		if m.Status != uint32(scsi.StatusGood) {
			t.Fatalf("ORDERED READ after the failure: %+v", m)
		}
		return
	}
	t.Fatal("ORDERED READ after the failure: two unit attentions")
}

// TestHandOffPanicRangeLockWaiter: a WRITE that waited for a COMPARE AND
// WRITE's range lock is handed to the workers when the lock is released; a
// failure of the LUN actor in that hand-off (the fault the hand-off tests
// inject) must end the WRITE as failed, as it ends an IO execute counted
// (handing.go). It was dropped: released from the lock's queue, not yet with a
// worker, so never answered, its task count never released (every later
// ORDERED task hung) and its new range lock never released.
func TestHandOffPanicRangeLockWaiter(t *testing.T) {
	g := &gatedReads{Backend: backend.NewMemory(1 << 20), entered: make(chan struct{}), release: make(chan struct{})}
	h := newLUNHarness(t, g)
	const cawItt, writeItt = 20, 21
	var fired atomic.Int32
	fail := func(io *pb.IoRequest) {
		if io.Task != nil && io.Task.Itt == writeItt && fired.Add(1) == 1 {
			panic("injected: LUN actor failure handing a lock waiter to the workers")
		}
	}
	handOffFault.Store(&fail)
	t.Cleanup(func() { handOffFault.Store(nil) })

	g.armed.Store(true)
	caw := make([]byte, 16)
	caw[0] = 0x89 // COMPARE AND WRITE, 1 block at LBA 64
	binary.BigEndian.PutUint64(caw[2:], 64)
	caw[13] = 1
	h.send(h.task(cawItt, caw, make([]byte, 1024)))
	select {
	case <-g.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("COMPARE AND WRITE never reached the backend")
	}
	h.send(h.task(writeItt, write10(64, 1, false), make([]byte, 512))) // waits for the CAW's lock
	time.Sleep(50 * time.Millisecond)
	close(g.release)
	got := expectOnce(t, h, cawItt, writeItt)
	if fired.Load() != 1 {
		t.Fatalf("the hand-off fault fired %d times, want 1: this test tests nothing", fired.Load())
	}
	if m := got[cawItt]; m.Status != uint32(scsi.StatusGood) {
		t.Fatalf("COMPARE AND WRITE: status %#x", m.Status)
	}
	orderedStillRuns(t, h, 30)
	// The WRITE's range lock went too: another COMPARE AND WRITE there runs.
	h.send(h.task(40, caw, make([]byte, 1024)))
	if m := h.wait(1)[40]; m == nil {
		t.Fatal("no answer to a COMPARE AND WRITE over the failed WRITE's range")
	}
}

// TestHandOffPanicMergeRun: a run of adjacent READs held back for merging is
// handed to the workers as one IO when the mailbox empties; a failure of the
// LUN actor in that hand-off must end every part as failed, each answered
// once. The run was taken out of the LUN's state before the hand-off, so its
// parts but the last (the message in hand, answered by the recovery) were
// never answered and their counts never released.
func TestHandOffPanicMergeRun(t *testing.T) {
	h := newLUNHarness(t, backend.NewMemory(1<<20))
	fired := failRunHandOff(t)
	tasks, itts := adjacentReads(h, 10, 0, 8, 16)
	h.burst(tasks...)
	expectOnce(t, h, itts...)
	if fired.Load() != 1 {
		t.Fatalf("the hand-off fault fired %d times, want 1: this test tests nothing", fired.Load())
	}
	orderedStillRuns(t, h, 30)
}

// TestHandOffPanicAfterMessageAnswered: the last message of a burst is a
// command the LUN answers at once (INQUIRY); the turn then hands the merged
// run the burst left to the workers, and the LUN actor fails there. The
// recovery answers the run's parts, and must not answer the INQUIRY again: it
// was answered CHECK CONDITION as the task "in hand" although its data had
// already gone, two answers to one command.
func TestHandOffPanicAfterMessageAnswered(t *testing.T) {
	h := newLUNHarness(t, backend.NewMemory(1<<20))
	fired := failRunHandOff(t)
	tasks, itts := adjacentReads(h, 10, 0, 8)
	inq := h.task(20, []byte{scsi.OpInquiry, 0, 0, 0, 96, 0}, nil)
	inq.Read, inq.ExpectedLength = true, 96
	tasks = append(tasks, inq)
	h.burst(tasks...)
	got := expectOnce(t, h, append(itts, inq.Itt)...)
	if fired.Load() != 1 {
		t.Fatalf("the hand-off fault fired %d times, want 1: this test tests nothing", fired.Load())
	}
	if m := got[inq.Itt]; m.Status != uint32(scsi.StatusGood) {
		t.Fatalf("INQUIRY: status %#x, want GOOD (answered before the failure)", m.Status)
	}
}

// panicOnce panics in its first WriteAt once armed, as a bug in the IO path would.
type panicOnce struct {
	backend.Backend
	armed atomic.Bool
}

func (p *panicOnce) WriteAt(b []byte, off int64, stable bool) error {
	if p.armed.CompareAndSwap(true, false) {
		panic("injected failure in a write")
	}
	return p.Backend.WriteAt(b, off, stable)
}

// TestHandOffPanicWorkerRetry: a worker that fails has its IO retried on a
// fresh one (supervisor.go); a failure in handing that retry to the workers
// (outside Receive, in the supervisor's call) must still end the IO, answered
// once, its count released. It was left in hand with nothing to end it.
func TestHandOffPanicWorkerRetry(t *testing.T) {
	b := &panicOnce{Backend: backend.NewMemory(1 << 20)}
	h := newLUNHarness(t, b)
	var fired atomic.Int32
	fail := func(io *pb.IoRequest) {
		if io.Retried && fired.Add(1) == 1 {
			panic("injected: failure handing a retried IO to the workers")
		}
	}
	handOffFault.Store(&fail)
	t.Cleanup(func() { handOffFault.Store(nil) })
	b.armed.Store(true)
	h.send(h.task(20, write10(64, 1, true), make([]byte, 512)))
	expectOnce(t, h, 20)
	if fired.Load() != 1 {
		t.Fatalf("the hand-off fault fired %d times, want 1: this test tests nothing", fired.Load())
	}
	orderedStillRuns(t, h, 30)
}

// failRunHandOff has the LUN actor fail the first time it hands a merged run to
// the workers; it returns how often the fault fired.
func failRunHandOff(t *testing.T) *atomic.Int32 {
	var fired atomic.Int32
	fail := func(io *pb.IoRequest) {
		if len(io.Parts) > 0 && fired.Add(1) == 1 {
			panic("injected: LUN actor failure handing a merged run to the workers")
		}
	}
	handOffFault.Store(&fail)
	t.Cleanup(func() { handOffFault.Store(nil) })
	return &fired
}

// adjacentReads makes READ(10)s of 8 blocks at lbas, numbered from itt0.
func adjacentReads(h *lunHarness, itt0 uint32, lbas ...uint32) (tasks []*pb.ScsiTask, itts []uint32) {
	for i, lba := range lbas {
		tk := h.task(itt0+uint32(i), read10(lba, 8), nil)
		tk.Read, tk.ExpectedLength = true, 4096
		tasks = append(tasks, tk)
		itts = append(itts, tk.Itt)
	}
	return tasks, itts
}
