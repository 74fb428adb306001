package inprocess

import (
	"testing"
	"time"

	"github.com/atgt/atgt/tests/initiator"
)

// Task attributes (RFC 7143 11.3.1.3, SAM-5 8.6).
const (
	simple      = 1
	ordered     = 2
	headOfQueue = 3
)

// TestTaskAttributes: an ORDERED task starts only after the tasks before it have
// completed, later SIMPLE tasks wait for it, a HEAD OF QUEUE task overtakes them, and
// a SIMPLE READ does not wait for an unrelated SIMPLE WRITE. The IO is held at a gate
// in the backend, so every step waits for an event, not for time to pass.
func TestTaskAttributes(t *testing.T) {
	gate := newGate()
	svc := start(t, baseConfig(t), gate.wrap(0))
	s := dial(t, svc.Addrs()[0], initiator.Options{ISID: isid(950)})
	untilGood(t, s)
	// submit puts a command on the wire before the next one, so CmdSN order is
	// submission order.
	submit := func(attr uint8, cdb, data []byte, readLen uint32) *initiator.Task {
		tk := s.SubmitAttr(attr, 0, cdb, data, readLen)
		<-tk.Sent()
		return tk
	}
	good := func(what string, tk *initiator.Task) {
		t.Helper()
		if r, err := tk.Wait(); err != nil || r.Status != 0 {
			t.Fatalf("%s: %+v %v", what, r, err)
		}
	}
	notDone := func(what string, tk *initiator.Task) {
		t.Helper()
		select {
		case <-tk.Done():
			t.Fatalf("%s finished while an earlier task it must wait for was held", what)
		default:
		}
	}
	within := func(what string, tk *initiator.Task) {
		t.Helper()
		select {
		case <-tk.Done():
			good(what, tk)
		case <-time.After(5 * time.Second):
			t.Fatalf("%s did not finish within 5s while an earlier task was held: it waited", what)
		}
	}
	tur := []byte{0, 0, 0, 0, 0, 0}

	gate.shut(t, "read", "write")
	first := submit(simple, write16(0, 1), randomData(3, blockSize), 0)
	gate.waitHeld(t, 1) // the first WRITE is in the backend
	ord := submit(ordered, write16(8, 1), randomData(4, blockSize), 0)
	after := submit(simple, read16(16, 1), nil, blockSize) // SIMPLE after ORDERED
	hoq := submit(headOfQueue, tur, nil, 0)
	within("HEAD OF QUEUE task", hoq)
	notDone("ORDERED task", ord)
	notDone("SIMPLE task after an ORDERED one", after)
	gate.noneHeld(t, "the ORDERED WRITE or the SIMPLE READ after it started before the earlier WRITE was done")

	gate.passOne(t) // the first WRITE completes
	good("first WRITE", first)
	gate.waitHeld(t, 1) // now the ORDERED WRITE runs
	notDone("SIMPLE task after an ORDERED one", after)
	gate.noneHeld(t, "the SIMPLE READ started before the ORDERED WRITE before it was done")
	gate.passOne(t)
	good("ORDERED WRITE", ord)
	gate.waitHeld(t, 1) // and then the SIMPLE READ
	gate.passOne(t)
	good("SIMPLE READ after the ORDERED WRITE", after)
	gate.release()

	// Without an ORDERED task in the way, a SIMPLE READ does not wait for a SIMPLE
	// WRITE that is still in the backend.
	gate.shut(t, "write")
	w := submit(simple, write16(32, 1), randomData(5, blockSize), 0)
	gate.waitHeld(t, 1)
	within("SIMPLE READ beside a held SIMPLE WRITE", submit(simple, read16(40, 1), nil, blockSize))
	notDone("held SIMPLE WRITE", w)
	gate.release()
	good("SIMPLE WRITE", w)
}
