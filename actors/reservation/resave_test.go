package reservation

import (
	"path/filepath"
	"testing"
)

// TestResave: the snapshot of a change that was undone (its save abandoned,
// Saved(false)) differs from the table, so Resave returns a new snapshot of the
// table as it stands, numbered above it and every other, which WriteStateFile
// puts over the undone one; a restart then loads the state the initiators were
// told of (SPC-4 6.17.3: with APTPL the registrations and reservation survive a
// power loss; 6.16.2: only commands completed successfully change them).
// A snapshot that matches the table asks for no save, whatever its number.
func TestResave(t *testing.T) {
	tb := New()
	mustGood(t, prout(t, tb, nexusA, SARegister, 0, 0, 0xA, 1), "REGISTER A, APTPL")
	tb.Saved(true)
	out := prout(t, tb, nexusB, SARegister, 0, 0, 0xB, 1)
	mustGood(t, out, "REGISTER B, APTPL")
	kept := out.Persist
	tb.Saved(true)
	if got := tb.Resave(kept); got != nil {
		t.Fatalf("Resave of the table's own snapshot: %s, want nil", got)
	}

	out = prout(t, tb, nexusA, SAClear, 0, 0xA, 0, 0)
	mustGood(t, out, "CLEAR")
	undone := out.Persist
	tb.Saved(false) // abandoned: the CLEAR did not happen
	path := filepath.Join(t.TempDir(), "pr.json")
	if err := WriteStateFile(path, undone); err != nil { // the call lands late
		t.Fatal(err)
	}
	again := tb.Resave(kept, undone)
	if again == nil {
		t.Fatal("Resave after the undone CLEAR's snapshot: nil, want a new snapshot")
	}
	_, seqUndone, _ := decodeState(undone)
	if _, seq, err := decodeState(again); err != nil || seq <= seqUndone {
		t.Fatalf("re-save: seq %d (%v), want above the undone snapshot's %d", seq, err, seqUndone)
	}
	if err := WriteStateFile(path, again); err != nil {
		t.Fatal(err)
	}
	if err := WriteStateFile(path, undone); err != nil { // an older one arriving after
		t.Fatal(err)
	}
	loaded, err := LoadState(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, keys := readKeys(t, loaded, nexusC); len(keys) != 2 || keys[0] != 0xA || keys[1] != 0xB {
		t.Fatalf("keys after a restart: %x, want [a b] (the CLEAR was undone)", keys)
	}
	if got := tb.Resave(again); got != nil {
		t.Fatalf("Resave of the re-save: %s, want nil (nothing changed since)", got)
	}
}
