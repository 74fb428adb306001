package lun

import (
	"bytes"
	"testing"
	"time"

	"github.com/atgt/atgt/backend/faults"
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/scsi"
)

// panicBehindOrdered sets up a LUN whose writes to LBA 16 panic the LUN actor, holds
// an ORDERED READ in the backend, queues behind it the tasks sends makes, and
// releases the READ, so that the actor fails while it runs a task it took from the
// task set (pump), not the message in hand (found by a review: that task was never
// answered, and the message in hand, still queued, was answered twice).
func panicBehindOrdered(t *testing.T, sends func(h *lunHarness)) *lunHarness {
	b := newHoldBackend(t)
	inj := faults.New(nil, nil)
	inj.Set([]faults.Fault{{Op: faults.Write, Kind: faults.LUNPanic, Probability: 1, Offset: 8192, Length: 512}})
	h := newLUNHarness(t, b, func(c *Config) { c.Faults = inj })
	release := b.hold("read", 0)
	o := h.read(1, 0)
	o.Attribute = pb.TaskAttribute_TASK_ATTRIBUTE_ORDERED
	h.send(o)
	b.waitHeld(t, "read@0")
	sends(h)
	time.Sleep(100 * time.Millisecond)
	release()
	return h
}

// answers collects the answers, by ITT, until every ITT of want has one (or 5 s
// passed), and then for 300 ms more, so that a second answer to any shows.
func answers(h *lunHarness, want ...uint32) map[uint32][]*pb.ScsiCompletion {
	got := map[uint32][]*pb.ScsiCompletion{}
	all := func() bool {
		for _, itt := range want {
			if len(got[itt]) == 0 {
				return false
			}
		}
		return true
	}
	deadline := time.After(5 * time.Second)
	var quiet <-chan time.Time
	for {
		if quiet == nil && all() {
			quiet = time.After(300 * time.Millisecond)
		}
		select {
		case m := <-h.done:
			got[m.Itt] = append(got[m.Itt], m)
		case <-deadline:
			return got
		case <-quiet:
			return got
		}
	}
}

// TestPanicInPumpAnswersEveryTask: the task that failed is answered CHECK CONDITION,
// and the tasks queued behind it still run.
func TestPanicInPumpAnswersEveryTask(t *testing.T) {
	h := panicBehindOrdered(t, func(h *lunHarness) {
		h.send(h.task(2, write10(16, 1, false), bytes.Repeat([]byte{1}, 512)))
		h.send(h.read(3, 64))
	})
	got := answers(h, 1, 2, 3)
	for itt := uint32(1); itt <= 3; itt++ {
		if len(got[itt]) != 1 {
			t.Fatalf("ITT %d answered %d times (all: %v)", itt, len(got[itt]), got)
		}
	}
	if c := got[2][0]; c.Status != uint32(scsi.StatusCheckCondition) {
		t.Fatalf("the task the actor failed on: status %#x, want CHECK CONDITION", c.Status)
	}
	// The READ runs: GOOD, or the unit attention of the rebuild (POWER ON, RESET).
	if c := got[3][0]; c.Status != uint32(scsi.StatusGood) && (len(c.Sense) < 13 || c.Sense[2]&0xf != 6 || c.Sense[12] != 0x29) {
		t.Fatalf("the READ queued behind it: status %#x sense %x, want GOOD or UNIT ATTENTION 29h", c.Status, c.Sense)
	}
}

// TestPanicInPumpAnswersOnce: tasks queued behind several failing ones, and a new
// one whose arrival pumps the queue, are each answered exactly once.
func TestPanicInPumpAnswersOnce(t *testing.T) {
	h := panicBehindOrdered(t, func(h *lunHarness) {
		for _, itt := range []uint32{2, 3, 6} {
			h.send(h.task(itt, write10(16, 1, false), bytes.Repeat([]byte{1}, 512)))
		}
	})
	time.Sleep(200 * time.Millisecond)
	h.send(h.task(4, make([]byte, 6), nil)) // TEST UNIT READY
	h.send(h.task(5, make([]byte, 6), nil))
	got := answers(h, 1, 2, 3, 4, 5, 6)
	for _, itt := range []uint32{1, 2, 3, 4, 5, 6} {
		if len(got[itt]) != 1 {
			t.Fatalf("ITT %d answered %d times (all: %v)", itt, len(got[itt]), got)
		}
	}
}
