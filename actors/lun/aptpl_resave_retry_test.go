package lun

import (
	"errors"
	"testing"
	"time"

	"github.com/atgt/atgt/actors/reservation"
	"github.com/atgt/atgt/backend"
)

// TestAPTPLFailedResaveIsRetried: the abandoned CLEAR's call lands its snapshot
// (no registrations, no reservation) in the state file, and the LUN's re-save of
// the reservations as they stand then fails. The file would keep the CLEAR the
// initiator was told timed out, which the next restart loads, dropping A's
// reservation and every registration (fencing relies on B staying out). So the
// re-save is tried again, after a backoff, until it is written, and the file
// ends up holding the state the LUN serves.
func TestAPTPLFailedResaveIsRetried(t *testing.T) {
	w := watchStateWrites(t)
	h := newPRHarness(t, backend.NewMemory(1<<20), func(c *Config) { c.IOTimeout = 2 * time.Second })
	held, before, _ := abandonedClear(t, h, w)

	w.hold() // the re-save the landing CLEAR prompts
	held.release <- nil
	if late := w.next(t, "the abandoned CLEAR's save"); late.err != nil {
		t.Fatal(late.err)
	}
	resave := w.heldCall(t)
	resave.release <- errors.New("injected: state file save failed")
	if s := w.next(t, "the re-save"); s.err == nil {
		t.Fatal("the re-save did not fail: this case tests no retry")
	}
	retry := w.next(t, "the failed re-save's retry")
	if retry.err != nil {
		t.Fatalf("the re-save's retry: %v", retry.err)
	}
	w.settle()
	expectRestart(t, h, "after the re-save failed once", []uint64{0xA, 0xB})
	if after := h.prState(); after != before {
		t.Errorf("reservations after the retried re-save:\n% x\nwant as before:\n% x", after, before)
	}
}

// TestAPTPLFailedResaveRetriedAfterNextSave: after a re-save failed, a
// reservation change's save that succeeds shows the state directory works
// again, so the re-save is retried at once, not only when its backoff (here
// lengthened to a minute) ends.
func TestAPTPLFailedResaveRetriedAfterNextSave(t *testing.T) {
	old := resaveBackoff
	resaveBackoff = time.Minute
	t.Cleanup(func() { resaveBackoff = old })
	w := watchStateWrites(t)
	h := newPRHarness(t, backend.NewMemory(1<<20), func(c *Config) { c.IOTimeout = 2 * time.Second })
	held, _, _ := abandonedClear(t, h, w)

	w.hold()
	held.release <- nil
	if late := w.next(t, "the abandoned CLEAR's save"); late.err != nil {
		t.Fatal(late.err)
	}
	w.heldCall(t).release <- errors.New("injected: state file save failed")
	if s := w.next(t, "the re-save"); s.err == nil {
		t.Fatal("the re-save did not fail: this case tests no retry")
	}
	expectGood(t, "REGISTER C", h.do(prNexC, prout(reservation.SARegister, 0, 0, 0xC, 1)))
	if s := w.next(t, "REGISTER C's save"); s.err != nil {
		t.Fatal(s.err)
	}
	retry := w.next(t, "the failed re-save's retry after REGISTER C's save")
	if retry.err != nil {
		t.Fatalf("the re-save's retry: %v", retry.err)
	}
	w.settle()
	expectRestart(t, h, "after the re-save failed and C registered", []uint64{0xA, 0xB, 0xC})
}
