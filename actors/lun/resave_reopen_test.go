package lun

import (
	"testing"
	"time"

	"github.com/atgt/atgt/backend"
)

// TestAPTPLResaveAfterReopen: an abandoned reservation save (the CLEAR of
// abandonedClear) lands in the state file while the LUN is reopening its fenced
// backend, when the LUN takes no re-save (resaveIfDue waits). Once the backend
// is reopened the state file still holds the CLEAR the initiator was told timed
// out, which a restart would load (dropping every registration and A's
// reservation): the reopen's end must let the re-save go. An idle LUN has no
// other turn that would (no task drains, no save is made, no retry timer is set,
// since no re-save failed).
func TestAPTPLResaveAfterReopen(t *testing.T) {
	w := watchStateWrites(t)
	f := &fenceable{Backend: backend.NewMemory(1 << 20), hold: make(chan error, 1), holdOff: -1}
	endAsked := make(chan func(), 1)
	h := newPRHarness(t, f, func(c *Config) {
		c.IOTimeout = 2 * time.Second
		c.Reopen = &Reopen{Backend: f, EndSessions: func(done func()) { endAsked <- done }}
	})
	held, before, _ := abandonedClear(t, h, w)

	f.fence()
	var ended func()
	select {
	case ended = <-endAsked:
	case <-time.After(5 * time.Second):
		t.Fatal("the LUN did not start its reopen after the fence")
	}
	held.release <- nil // the CLEAR's call lands while the LUN reopens
	if late := w.next(t, "the abandoned CLEAR's save"); late.err != nil {
		t.Fatal(late.err)
	}
	ended() // the sessions have ended: the backend reopens
	for deadline := time.Now().Add(5 * time.Second); f.attemptsSoFar() < 2; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the backend was not reopened")
		}
	}
	if re := w.next(t, "the re-save after the reopen"); re.err != nil { // the reopen's end lets it go
		t.Fatal(re.err)
	}
	w.settle()
	expectRestart(t, h, "after the LUN reopened its backend", []uint64{0xA, 0xB})
	if after := h.prState(); after != before {
		t.Errorf("reservations after the reopen:\n% x\nwant as before:\n% x", after, before)
	}
}
