package reservation

import (
	"bytes"
	"encoding/json"
)

// A save whose call the LUN abandoned (ioTimeout, task management) ends as a
// failed one: its change is undone (Saved(false)) and its command answered
// CHECK CONDITION. The call may still complete later and put that undone
// change in the state file, which the next start loads. So once such a call
// has returned, the LUN hands Resave what it wrote, and writes the snapshot
// Resave returns, if any: its number is above every snapshot taken before,
// so WriteStateFile lets no older one overwrite it, and it is skipped itself
// if a newer one is already there.

// Resave returns a new snapshot of the table, numbered above every snapshot
// taken before, if the state it describes differs from what any of written
// (snapshots from Outcome.Persist or Resave) describes, their numbers aside;
// nil if none differs. It must not be called while a change is unsaved
// (Unsaved): until that change's save ends, what stands is not known.
func (t *Table) Resave(written ...[]byte) []byte {
	cur := t.state(0)
	want, _ := json.Marshal(&cur) // plain types: cannot fail
	same := func(w []byte) bool {
		var s stateFile
		if err := json.Unmarshal(w, &s); err != nil {
			return false
		}
		s.Seq = 0
		got, _ := json.Marshal(&s)
		return bytes.Equal(got, want)
	}
	for _, w := range written {
		if !same(w) {
			return t.snapshot()
		}
	}
	return nil
}
