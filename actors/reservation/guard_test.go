package reservation

import (
	"testing"
)

// A panic inside a reservation command that already changed the table: the
// LUN recovers and goes on from the state before that command (which was
// answered CHECK CONDITION), never from a half-changed table nor from an
// empty one; snapshot numbers stay above every snapshot handed out.
func TestRecoveredAfterPanicInsideCommand(t *testing.T) {
	tb := New()
	mustGood(t, prout(t, tb, nexusA, SARegisterAndIgnore, 0, 0, 0xA, 1), "REGISTER A, APTPL")
	mustGood(t, prout(t, tb, nexusB, SARegisterAndIgnore, 0, 0, 0xB, 0), "REGISTER B")
	mustGood(t, prout(t, tb, nexusA, SAReserve, TypeWriteExclusiveRegistrantsOnly, 0xA, 0, 0), "RESERVE A")
	mustGood(t, prout(t, tb, nexusA, SAPreemptAndAbort, TypeWriteExclusiveRegistrantsOnly, 0xA, 0xB, 0), "PREEMPT AND ABORT B")
	if got, back := tb.Recovered(); got != tb || back {
		t.Fatal("Recovered between commands must keep the table")
	}
	seq := tb.seq
	faultAfterChange = func(op byte) { panic("fault in the reservation code") }
	func() {
		defer func() { _ = recover() }()
		// CLEAR from A: the table is emptied, then the panic.
		exec(t, tb, nexusA, proutCmd(SAClear, 0, 0, 24), basicParams(0xA, 0, 0))
		t.Fatal("no panic")
	}()
	faultAfterChange = nil
	if len(tb.regs) != 0 {
		t.Fatal("the fault must come after the change, for this test")
	}
	rt, back := tb.Recovered()
	if !back || rt == tb {
		t.Fatal("Recovered after a panic inside a command must go back to the state before it")
	}
	if !rt.Check(nexusB, write10()) {
		t.Fatal("fenced B admitted after the recovery")
	}
	if rt.Check(nexusA, write10()) {
		t.Fatal("holder A refused after the recovery")
	}
	if _, keys := readKeys(t, rt, nexusA); len(keys) != 1 || keys[0] != 0xA {
		t.Fatalf("keys after the recovery %x, want [a]", keys)
	}
	if rt.seq < tb.seq {
		t.Fatalf("snapshot seq went back: %d < %d", rt.seq, tb.seq)
	}
	// The recovered table works, and a command on it is no longer guarded.
	out := prout(t, rt, nexusA, SARegister, 0, 0xA, 0xA2, 1)
	mustGood(t, out, "REGISTER with a new key after the recovery")
	if out.Persist == nil {
		t.Fatal("APTPL snapshot missing")
	}
	if _, s, err := decodeState(out.Persist); err != nil || s <= seq {
		t.Fatalf("snapshot after the recovery: seq %d (err %v), want above %d", s, err, seq)
	}
	if rt.guard != nil {
		t.Fatal("guard left set after a command returned")
	}
}
