package lun

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/atgt/atgt/backend"
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/scsi"
)

// holdBackend holds reads or writes that start at chosen offsets until released,
// panics at chosen offsets a given number of times, and reports each call it holds.
type holdBackend struct {
	backend.Backend
	mu     sync.Mutex
	holds  map[string]chan struct{} // "read@off" or "write@off"
	panics map[int64]int
	held   chan string
}

func newHoldBackend(t *testing.T) *holdBackend {
	b := &holdBackend{Backend: backend.NewMemory(1 << 20), holds: map[string]chan struct{}{},
		panics: map[int64]int{}, held: make(chan string, 64)}
	t.Cleanup(func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		for k, ch := range b.holds {
			close(ch)
			delete(b.holds, k)
		}
	})
	return b
}

// hold makes op calls at off wait until release is called.
func (b *holdBackend) hold(op string, off int64) (release func()) {
	key := fmt.Sprintf("%s@%d", op, off)
	ch := make(chan struct{})
	b.mu.Lock()
	b.holds[key] = ch
	b.mu.Unlock()
	return func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.holds[key] == ch {
			delete(b.holds, key)
			close(ch)
		}
	}
}

func (b *holdBackend) panicAt(off int64, n int) {
	b.mu.Lock()
	b.panics[off] = n
	b.mu.Unlock()
}

func (b *holdBackend) gate(op string, off int64) {
	key := fmt.Sprintf("%s@%d", op, off)
	b.mu.Lock()
	ch := b.holds[key]
	if b.panics[off] > 0 {
		b.panics[off]--
		b.mu.Unlock()
		panic("injected failure at " + key)
	}
	b.mu.Unlock()
	if ch != nil {
		b.held <- key
		<-ch
	}
}

func (b *holdBackend) ReadAt(p []byte, off int64) (int, error) {
	b.gate("read", off)
	return b.Backend.ReadAt(p, off)
}

func (b *holdBackend) WriteAt(p []byte, off int64, stable bool) error {
	b.gate("write", off)
	return b.Backend.WriteAt(p, off, stable)
}

// waitHeld waits for a call to be held at key.
func (b *holdBackend) waitHeld(t *testing.T, key string) {
	t.Helper()
	select {
	case got := <-b.held:
		if got != key {
			t.Fatalf("call held at %s, want %s", got, key)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("no call held at %s", key)
	}
}

// noneHeld checks that no call reaches the backend's holds within d.
func (b *holdBackend) noneHeld(t *testing.T, d time.Duration, why string) {
	t.Helper()
	select {
	case got := <-b.held:
		t.Fatalf("call held at %s: %s", got, why)
	case <-time.After(d):
	}
}

func (h *lunHarness) read(itt, lba uint32) *pb.ScsiTask {
	tk := h.task(itt, read10(lba, 8), nil)
	tk.Read, tk.ExpectedLength = true, 4096
	return tk
}

// expectCheck asserts a CHECK CONDITION with the given sense.
func expectCheck(t *testing.T, what string, m *pb.ScsiCompletion, key, asc, ascq byte) {
	t.Helper()
	if m == nil {
		t.Fatalf("%s: no answer", what)
	}
	k, a, q := senseOf(m.Sense)
	if m.Status != uint32(scsi.StatusCheckCondition) || k != key || a != asc || q != ascq {
		t.Fatalf("%s: status %#x sense %x/%02x/%02x, want CHECK CONDITION %x/%02x/%02x", what, m.Status, k, a, q, key, asc, ascq)
	}
}

func expectGood(t *testing.T, what string, m *pb.ScsiCompletion) {
	t.Helper()
	if m == nil || m.Status != uint32(scsi.StatusGood) {
		t.Fatalf("%s: %+v, want GOOD", what, m)
	}
}

// TestPanicRetriedOnce: an IO whose worker panics is retried once on a fresh worker and
// answered as if nothing happened; a second panic is answered CHECK CONDITION HARDWARE
// ERROR / INTERNAL TARGET FAILURE; an IO that may not run twice (COMPARE AND WRITE) is
// not retried.
func TestPanicRetriedOnce(t *testing.T) {
	b := newHoldBackend(t)
	h := newLUNHarness(t, b)
	want := bytes.Repeat([]byte{7}, 4096)
	if err := b.Backend.WriteAt(want, 4096, false); err != nil {
		t.Fatal(err)
	}
	b.panicAt(4096, 1)
	h.send(h.read(1, 8))
	m := h.wait(1)[1]
	expectGood(t, "READ whose worker panicked once", m)
	if !bytes.Equal(m.DataIn, want) {
		t.Fatal("retried READ returned the wrong data")
	}
	b.panicAt(4096, 2)
	h.send(h.read(2, 8))
	expectCheck(t, "READ whose worker panicked twice", h.wait(1)[2], scsi.SenseHardwareError, 0x44, 0)

	data := bytes.Repeat([]byte{9}, 4096)
	b.panicAt(8192, 1)
	h.send(h.task(3, write10(16, 8, false), data))
	expectGood(t, "WRITE whose worker panicked once", h.wait(1)[3])
	got := make([]byte, 4096)
	if _, err := b.Backend.ReadAt(got, 8192); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("retried WRITE's data not on the backend (err %v)", err)
	}

	caw := make([]byte, 16)
	caw[0] = scsi.OpCompareAndWrite
	binary.BigEndian.PutUint64(caw[2:], 64)
	caw[13] = 1
	b.panicAt(64*512, 1)
	h.send(h.task(4, caw, make([]byte, 1024)))
	expectCheck(t, "COMPARE AND WRITE whose worker panicked", h.wait(1)[4], scsi.SenseHardwareError, 0x44, 0)
	h.send(h.task(5, caw, make([]byte, 1024)))
	expectGood(t, "COMPARE AND WRITE after the restart", h.wait(1)[5])
}

// TestIdleWorkerDispatch: IO goes only to a free worker, so with one of two workers
// held in a backend call every other IO is still answered (round robin would have
// queued every second one behind the held call).
func TestIdleWorkerDispatch(t *testing.T) {
	b := newHoldBackend(t)
	h := newLUNHarness(t, b)
	release := b.hold("read", 0)
	h.send(h.read(1, 0))
	b.waitHeld(t, "read@0")
	for i := range 20 {
		h.send(h.read(uint32(10+i), uint32(64+16*i)))
	}
	for itt, m := range h.wait(20) {
		expectGood(t, fmt.Sprintf("READ %d beside a held call", itt), m)
	}
	release()
	expectGood(t, "the held READ once released", h.wait(1)[1])
}

// TestWatchdogAbandons: a call past ioTimeout is abandoned and its task answered
// ABORTED COMMAND, COMMAND TIMEOUT DURING PROCESSING; the pool keeps its width (two
// calls can still be in the backend at once); the late result of the abandoned call
// is discarded when it returns.
func TestWatchdogAbandons(t *testing.T) {
	b := newHoldBackend(t)
	const timeout = 500 * time.Millisecond
	h := newLUNHarness(t, b, func(c *Config) { c.IOTimeout = timeout })
	release := b.hold("read", 0)
	start := time.Now()
	h.send(h.read(1, 0))
	b.waitHeld(t, "read@0")
	expectCheck(t, "READ held past ioTimeout", h.wait(1)[1], scsi.SenseAbortedCommand, 0x08, 0x01)
	if d := time.Since(start); d < timeout || d > 3*timeout {
		t.Fatalf("abandoned after %v; want between ioTimeout and 1.25 ioTimeout (%v)", d, timeout)
	}

	release2 := b.hold("read", 8192)
	h.send(h.read(2, 16))
	h.send(h.read(3, 16))
	b.waitHeld(t, "read@8192")
	b.waitHeld(t, "read@8192")
	release2()
	for itt, m := range h.wait(2) {
		expectGood(t, fmt.Sprintf("READ %d on the replaced pool", itt), m)
	}

	release()
	h.send(h.read(4, 64))
	expectGood(t, "READ after the abandoned call returned", h.wait(1)[4])
	select {
	case m := <-h.done:
		t.Fatalf("late answer for task %d after its call was abandoned", m.Itt)
	case <-time.After(200 * time.Millisecond):
	}
}

// TestFenceUntilLateReturn: an abandoned WRITE keeps its range fenced until its call
// returns. A later WRITE to that range waits for it (so the late call cannot overwrite
// it); a WRITE elsewhere and a READ of the range go on.
func TestFenceUntilLateReturn(t *testing.T) {
	b := newHoldBackend(t)
	h := newLUNHarness(t, b, func(c *Config) { c.IOTimeout = 200 * time.Millisecond })
	release := b.hold("write", 0)
	h.send(h.task(1, write10(0, 8, false), bytes.Repeat([]byte{0x11}, 4096)))
	b.waitHeld(t, "write@0")
	m := h.wait(1)[1]
	expectCheck(t, "WRITE held past ioTimeout", m, scsi.SenseAbortedCommand, 0x08, 0x01)
	if !m.Detached {
		t.Fatal("the abandoned WRITE's answer is not marked detached: its buffer would go back to the pool")
	}

	h.send(h.task(2, write10(4, 8, false), bytes.Repeat([]byte{0x22}, 4096))) // overlaps
	h.send(h.task(3, write10(64, 8, false), bytes.Repeat([]byte{0x33}, 4096)))
	h.send(h.read(4, 0))
	got := h.wait(2)
	expectGood(t, "WRITE elsewhere", got[3])
	expectGood(t, "READ of the fenced range", got[4])
	b.noneHeld(t, 300*time.Millisecond, "the overlapping WRITE started before the abandoned one returned")
	select {
	case m := <-h.done:
		t.Fatalf("task %d answered while the fence held", m.Itt)
	default:
	}

	release()
	expectGood(t, "WRITE after the fence lifted", h.wait(1)[2])
	data := make([]byte, 6144)
	if _, err := b.Backend.ReadAt(data, 0); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data[:2048], bytes.Repeat([]byte{0x11}, 2048)) || !bytes.Equal(data[2048:], bytes.Repeat([]byte{0x22}, 4096)) {
		t.Fatal("the later WRITE was overwritten by the abandoned one, or did not land")
	}
}

// TestNotReadyAtLimit: with as many abandoned calls as workers, the LUN answers NOT
// READY, LOGICAL UNIT IS IN PROCESS OF BECOMING READY (04/01), INQUIRY still runs, and
// it is ready again once the call returns.
func TestNotReadyAtLimit(t *testing.T) {
	b := newHoldBackend(t)
	h := newLUNHarness(t, b, func(c *Config) { c.Workers, c.IOTimeout = 1, 100*time.Millisecond })
	release := b.hold("read", 0)
	h.send(h.read(1, 0))
	b.waitHeld(t, "read@0")
	expectCheck(t, "READ held past ioTimeout", h.wait(1)[1], scsi.SenseAbortedCommand, 0x08, 0x01)

	h.send(h.task(2, make([]byte, 6), nil))
	expectCheck(t, "TEST UNIT READY at the limit", h.wait(1)[2], scsi.SenseNotReady, 0x04, 0x01)
	h.send(h.read(3, 64))
	expectCheck(t, "READ at the limit", h.wait(1)[3], scsi.SenseNotReady, 0x04, 0x01)
	inq := h.task(4, []byte{scsi.OpInquiry, 0, 0, 0, 36, 0}, nil)
	inq.ExpectedLength = 36
	h.send(inq)
	expectGood(t, "INQUIRY at the limit", h.wait(1)[4])

	release()
	deadline := time.Now().Add(5 * time.Second)
	for itt := uint32(10); ; itt++ {
		h.send(h.task(itt, make([]byte, 6), nil))
		if m := h.wait(1)[itt]; m.Status == uint32(scsi.StatusGood) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("still not ready 5 s after the abandoned call returned")
		}
		time.Sleep(10 * time.Millisecond)
	}
	h.send(h.read(5, 64))
	expectGood(t, "READ once ready again", h.wait(1)[5])
}

// TestTaskManagementDetaches: with no ioTimeout, ABORT TASK and LOGICAL UNIT RESET are
// answered at once and the asking connection's hung tasks are ended (detached) within
// the grace; ABORT TASK leaves another connection's hung task alone, LOGICAL UNIT
// RESET (the whole shared task set) ends it too, and tasks queued behind the hung
// calls run on the replacement worker.
func TestTaskManagementDetaches(t *testing.T) {
	b := newHoldBackend(t)
	h := newLUNHarness(t, b)
	other := make(chan *pb.ScsiCompletion, 8)
	conn2 := h.sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if m, ok := ctx.Message().(*pb.ScsiCompletion); ok {
			other <- m
		}
	}))
	fromOther := func(tk *pb.ScsiTask) *pb.ScsiTask {
		tk.ReplyTo = pb.NewPid(conn2)
		return tk
	}
	b.hold("read", 0)
	h.send(h.read(1, 0))
	b.waitHeld(t, "read@0")
	h.send(fromOther(h.read(7, 0)))
	b.waitHeld(t, "read@0")
	// Both workers are held: these wait in the LUN.
	h.send(h.read(2, 64))
	h.send(fromOther(h.read(3, 128)))

	tmf := func(fn pb.TmfFunction, itt, ref uint32) time.Time {
		h.sys.Root.Send(h.lun, &pb.TaskManagement{Function: fn, Itt: itt, Target: "t", ReplyTo: pb.NewPid(h.conn),
			ReferencedItt: ref, FanOut: 1})
		select {
		case d := <-h.tmfs:
			if d.Itt != itt || d.Response != 0 {
				t.Fatalf("%v answered %+v", fn, d)
			}
		case <-time.After(time.Second):
			t.Fatalf("%v not answered", fn)
		}
		return time.Now()
	}
	at := tmf(pb.TmfFunction_TMF_FUNCTION_ABORT_TASK, 100, 1)
	m := h.wait(2)
	if d := time.Since(at); d > tmfGrace+time.Second {
		t.Fatalf("aborted task ended %v after the function", d)
	}
	expectCheck(t, "the aborted task held in a call", m[1], scsi.SenseAbortedCommand, 0x08, 0x01)
	expectGood(t, "the task queued behind it, on the new worker", m[2])
	select {
	case m := <-other:
		if m.Itt != 3 {
			t.Fatalf("another connection's hung task %d was ended", m.Itt)
		}
		expectGood(t, "another connection's queued task", m)
	case <-time.After(5 * time.Second):
		t.Fatal("another connection's queued task never ran")
	}

	h.send(h.read(4, 0)) // held again, on the replacement worker
	b.waitHeld(t, "read@0")
	h.send(h.read(5, 256)) // queued: both workers are held
	at = tmf(pb.TmfFunction_TMF_FUNCTION_LOGICAL_UNIT_RESET, 101, 0)
	m = h.wait(2)
	if d := time.Since(at); d > tmfGrace+time.Second {
		t.Fatalf("reset tasks ended %v after the function", d)
	}
	expectCheck(t, "the hung task after LOGICAL UNIT RESET", m[4], scsi.SenseAbortedCommand, 0x08, 0x01)
	// The reset acts on the task set every nexus shares (TST=000): another
	// connection's hung task is detached too (its connection answers it TASK
	// ABORTED), in the same bounded time.
	select {
	case m := <-other:
		if m.Itt != 7 {
			t.Fatalf("another connection's task %d ended by the reset", m.Itt)
		}
		expectCheck(t, "another connection's hung task after the reset", m, scsi.SenseAbortedCommand, 0x08, 0x01)
		if d := time.Since(at); d > tmfGrace+time.Second {
			t.Fatalf("another connection's hung task ended %v after the reset", d)
		}
	case <-time.After(tmfGrace + 2*time.Second):
		t.Fatal("another connection's hung task outlived the reset")
	}
}

// readLarge is a READ(10) of 64 KiB (128 blocks), over the size merge.go keeps apart:
// the LUN hands it straight to an idle worker rather than through the shared queue.
func (h *lunHarness) readLarge(itt, lba uint32) *pb.ScsiTask {
	tk := h.task(itt, read10(lba, 128), nil)
	tk.Read, tk.ExpectedLength = true, 128*512
	return tk
}

// TestLargeIOHandOff: large IO handed straight to an idle worker follows the same
// rules as queued IO: with one worker held in a call the rest are answered, a worker
// that panics has the IO retried, and a call past ioTimeout is abandoned with the
// pool's width kept.
func TestLargeIOHandOff(t *testing.T) {
	b := newHoldBackend(t)
	const timeout = 500 * time.Millisecond
	h := newLUNHarness(t, b, func(c *Config) { c.IOTimeout = timeout })
	release := b.hold("read", 0)
	h.send(h.readLarge(1, 0))
	b.waitHeld(t, "read@0")
	for i := range 12 {
		h.send(h.readLarge(uint32(10+i), uint32(256+128*i)))
	}
	for itt, m := range h.wait(12) {
		expectGood(t, fmt.Sprintf("large READ %d beside a held call", itt), m)
	}
	expectCheck(t, "large READ held past ioTimeout", h.wait(1)[1], scsi.SenseAbortedCommand, 0x08, 0x01)
	release()

	want := bytes.Repeat([]byte{5}, 128*512)
	if err := b.Backend.WriteAt(want, 512*512, false); err != nil {
		t.Fatal(err)
	}
	b.panicAt(512*512, 1)
	h.send(h.readLarge(30, 512))
	m := h.wait(1)[30]
	expectGood(t, "large READ whose worker panicked once", m)
	if !bytes.Equal(m.DataIn, want) {
		t.Fatal("retried large READ returned the wrong data")
	}
}
