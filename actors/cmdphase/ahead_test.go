package cmdphase

import (
	"fmt"
	"testing"

	pb "github.com/atgt/atgt/messages/atgtv1"
)

// TestAhead checks the list the window counts with: adds in and out of CmdSN order
// (across the 2^32 wrap), removals, ExpCmdSN passing, and compaction after a flood
// of forgotten tasks.
func TestAhead(t *testing.T) {
	mk := func(sn uint32) *task { return &task{t: &pb.ScsiTask{CmdSn: sn}} }
	order := func(a *ahead) string {
		var s []uint32
		for _, tk := range a.list[a.head:] {
			if tk.ahead {
				s = append(s, tk.t.CmdSn)
			}
		}
		return fmt.Sprint(s, " live=", a.live)
	}
	var a ahead
	tasks := map[uint32]*task{}
	for _, sn := range []uint32{0xfffffffe, 1, 0xffffffff, 0, 3, 2} {
		tasks[sn] = mk(sn)
		a.add(tasks[sn])
	}
	if got, want := order(&a), "[4294967294 4294967295 0 1 2 3] live=6"; got != want {
		t.Fatalf("after adds: %s, want %s", got, want)
	}
	a.remove(tasks[0])
	a.remove(tasks[0]) // twice is once
	a.passed(1)        // passes 0xfffffffe, 0xffffffff and the removed 0
	if got, want := order(&a), "[1 2 3] live=3"; got != want {
		t.Fatalf("after passed(1): %s, want %s", got, want)
	}
	a.passed(4)
	if got, want := order(&a), "[] live=0"; got != want || a.head != 0 || len(a.list) != 0 {
		t.Fatalf("after passed(4): %s head=%d len=%d, want %s and an empty list", got, a.head, len(a.list), want)
	}
	// A flood of tasks that are forgotten without ExpCmdSN ever passing them.
	for sn := uint32(1000); sn < 1300; sn++ {
		tk := mk(sn)
		a.add(tk)
		if sn != 1299 {
			a.remove(tk)
		}
	}
	if len(a.list)-a.head > 130 || a.live != 1 {
		t.Fatalf("after a flood: %d entries for %d live tasks; want compaction", len(a.list)-a.head, a.live)
	}
	if got, want := order(&a), "[1299] live=1"; got != want {
		t.Fatalf("after a flood: %s, want %s", got, want)
	}
}
