package lun

import (
	"testing"
	"time"
)

// TestUnretireServesAgain: a LUN retired by force (its removal under way) whose
// removal is given up serves again: new commands are served, not answered LOGICAL
// UNIT NOT SUPPORTED, and the task it held completes as usual.
func TestUnretireServesAgain(t *testing.T) {
	b := newHoldBackend(t)
	h := newLUNHarness(t, b)
	defer h.sys.Shutdown()
	release := b.hold("read", 0)
	h.send(h.read(1, 0))
	b.waitHeld(t, "read@0")
	retired := make(chan RetireResult, 1)
	h.sys.Root.Send(h.lun, &Retire{Force: true, Done: func(r RetireResult) { retired <- r }})
	h.send(h.task(2, make([]byte, 6), nil)) // TEST UNIT READY
	if got := h.wait(1)[2]; got == nil || got.Status == 0 {
		t.Fatalf("a retired LUN served a new command: %+v", got)
	}
	h.sys.Root.Send(h.lun, &Unretire{})
	h.send(h.task(3, make([]byte, 6), nil))
	if got := h.wait(1)[3]; got == nil || got.Status != 0 {
		t.Fatalf("after Unretire a new command got %+v, want GOOD", got)
	}
	release()
	if got := h.wait(1)[1]; got == nil || got.Status != 0 {
		t.Fatalf("the held read after Unretire: %+v, want GOOD", got)
	}
	select {
	case r := <-retired:
		t.Fatalf("the given-up retirement still answered: %+v", r)
	case <-time.After(100 * time.Millisecond):
	}
}
