package trace

import "testing"

// TestTailMissesNoTask: `atgtctl trace tail` polls Since(after) and resumes from the
// until it answers. A task whose last hop is stamped before another connection's
// task's, but that reaches its ring after that task was read, is still returned by
// the next poll.
func TestTailMissesNoTask(t *testing.T) {
	tr := New(Config{Level: Light, Filter: Any})
	defer tr.Close()
	a := tr.NewConn("iqn.a", "iqn.t", [6]byte{1}, 1)
	b := tr.NewConn("iqn.b", "iqn.t", [6]byte{2}, 2)
	defer a.Close()
	defer b.Close()
	start := Now()
	ra, _ := a.Start(1, 1, 0, 0x28)
	rb, _ := b.Start(2, 2, 0, 0x28)
	ra.Add(Event{Hop: HopReceived})
	rb.Add(Event{Hop: HopReceived})
	ra.Add(Event{Hop: HopWritten}) // a's response written first ...
	rb.Add(Event{Hop: HopWritten})
	b.Finish(rb) // ... but b's record reaches its ring first
	got, until := tr.Since(start, Any)
	if len(got) != 1 || got[0].ID.ITT != 2 {
		t.Fatalf("first poll: %d tasks", len(got))
	}
	a.Finish(ra)
	next, until2 := tr.Since(until, Any)
	if len(next) != 1 || next[0].ID.ITT != 1 {
		t.Errorf("task of connection a (finished after the first poll) not shown by the next poll: %d tasks", len(next))
	}
	if again, _ := tr.Since(until2, Any); len(again) != 0 {
		t.Errorf("a third poll shows %d tasks again", len(again))
	}
}
