package reservation

import (
	"slices"
	"testing"
)

// A change whose APTPL snapshot was not saved goes back whole: the command
// failed, so nothing changed, PRgeneration included (SPC-4 6.16.2 counts only
// commands that complete successfully); one that was saved stands. The snapshot numbers never go back, so a snapshot taken
// after the failed one still replaces any file (WriteStateFile skips older ones).
func TestSavedRollsBack(t *testing.T) {
	tb := New()
	mustGood(t, prout(t, tb, nexusA, SARegister, 0, 0, 0xA, 1), "REGISTER A, APTPL")
	tb.Saved(true)
	mustGood(t, prout(t, tb, nexusB, SARegister, 0, 0, 0xB, 1), "REGISTER B, APTPL")
	tb.Saved(true)
	gen, keys := readKeys(t, tb, nexusC)

	out := prout(t, tb, nexusA, SAPreempt, TypeExclusiveAccess, 0xA, 0xB, 0)
	mustGood(t, out, "PREEMPT B")
	if out.Persist == nil || !tb.Unsaved() {
		t.Fatal("a change under APTPL carries no snapshot, or is not pending")
	}
	_, failedSeq, err := decodeState(out.Persist)
	if err != nil {
		t.Fatal(err)
	}
	tb.Saved(false)
	if tb.Unsaved() {
		t.Fatal("still pending after Saved")
	}
	if g, k := readKeys(t, tb, nexusC); g != gen || !slices.Equal(k, keys) {
		t.Fatalf("after the failed save: generation %d keys %x, want %d %x", g, k, gen, keys)
	}
	if ok, _, _ := readReservation(t, tb, nexusC); ok {
		t.Fatal("the reservation of the failed PREEMPT stands")
	}
	if tb.Check(nexusB, write10()) {
		t.Fatal("B, whose preemption failed, is excluded")
	}

	// APTPL off whose save failed: still on, and the next change persists.
	mustGood(t, prout(t, tb, nexusA, SARegister, 0, 0xA, 0xA2, 0), "REGISTER A, APTPL off")
	tb.Saved(false)
	if !tb.aptpl {
		t.Fatal("APTPL off although its save failed")
	}
	out = prout(t, tb, nexusA, SARegister, 0, 0xA, 0xA3, 1)
	mustGood(t, out, "REGISTER A, new key")
	if _, seq, err := decodeState(out.Persist); err != nil || seq <= failedSeq {
		t.Fatalf("snapshot after a failed save: seq %d (%v), want above the failed one's %d", seq, err, failedSeq)
	}
	tb.Saved(true)
	if _, k := readKeys(t, tb, nexusC); !slices.Equal(k, []uint64{0xA3, 0xB}) {
		t.Fatalf("keys after a saved change %x, want [a3 b]", k)
	}
	tb.Saved(false) // nothing pending: no-op
	if _, k := readKeys(t, tb, nexusC); !slices.Equal(k, []uint64{0xA3, 0xB}) {
		t.Fatalf("Saved with nothing pending changed the keys to %x", k)
	}
}
