package session

import (
	"testing"
	"time"

	"github.com/atgt/atgt/actors/cmdsn"
	pb "github.com/atgt/atgt/messages/atgtv1"
)

// TestHoleWatchTimesEachRequest: the hole timeout measures how long the request that
// has waited longest behind a CmdSN hole has waited (RFC 7143 4.2.2.1: it cannot
// run before the missing CmdSN arrives), from when it began to wait; ExpCmdSN moving
// past a filled hole while another stays open below it does not restart the count,
// and a released or withdrawn request (a placeholder in the window) no longer counts.
func TestHoleWatchTimesEachRequest(t *testing.T) {
	w := cmdsn.NewWindow(1, 16)
	var hw holeWatch
	t0 := time.Unix(1_700_000_000, 0)
	accept := func(sn uint32, at time.Duration) {
		t.Helper()
		o := &pb.CommandOrder{CmdSn: sn, Itt: sn, MaxCmdSn: 16}
		ready, ok := w.Accept(o)
		if !ok {
			t.Fatalf("CmdSN %d not accepted", sn)
		}
		if len(ready) == 0 && w.Waits(sn) {
			hw.add(sn, t0.Add(at))
		}
	}
	oldest := func(want time.Duration, waits bool) {
		t.Helper()
		at, ok := hw.oldest(w.Waits)
		if ok != waits || ok && !at.Equal(t0.Add(want)) {
			t.Fatalf("oldest wait began at %v (waiting %v), want %v (waiting %v)", at.Sub(t0), ok, want, waits)
		}
	}
	accept(1, 0) // in order: never waits
	oldest(0, false)
	accept(4, 100*time.Millisecond) // CmdSN 2 and 3 missing
	accept(5, 200*time.Millisecond)
	oldest(100*time.Millisecond, true)
	accept(2, 600*time.Millisecond) // fills the first hole: ExpCmdSN 3, the second stays
	oldest(100*time.Millisecond, true)
	accept(3, 700*time.Millisecond) // fills it: 4 and 5 run
	oldest(0, false)
	accept(7, 800*time.Millisecond)
	oldest(800*time.Millisecond, true)
	if _, ok := w.Withdraw(7, nil); ok {
		t.Fatal("withdrew a request that is no task")
	}
	task := &pb.ScsiTask{Itt: 8}
	w.Accept(&pb.CommandOrder{CmdSn: 8, Itt: 8, Task: task, MaxCmdSn: 16})
	hw.add(8, t0.Add(900*time.Millisecond))
	accept(6, time.Second) // 7 and 8 run
	oldest(0, false)
	accept(10, 1100*time.Millisecond)
	task = &pb.ScsiTask{Itt: 11}
	w.Accept(&pb.CommandOrder{CmdSn: 11, Itt: 11, Task: task, MaxCmdSn: 16})
	hw.add(11, t0.Add(1200*time.Millisecond))
	w.Withdraw(11, task)             // an ABORT TASK took it: a placeholder now
	accept(9, 1300*time.Millisecond) // 9 and 10 run; 11's placeholder leaves
	oldest(0, false)
	// A placeholder (a CmdSN taken without a request) behind a hole is no request.
	w.Accept(&pb.CommandOrder{CmdSn: 13, Itt: cmdsn.PlaceholderITT, MaxCmdSn: 16})
	if w.Waits(13) {
		t.Fatal("a placeholder counts as a waiting request")
	}
}

// TestHoleWatchBounded: the record of waiting requests stays bounded while
// requests keep waiting briefly behind holes the initiator fills at once (here
// each odd CmdSN arrives before the even one below it). Released requests were
// dropped only when the hole timer ran, a whole Data-Out timeout later, so an
// initiator sending swapped pairs grew the record by one entry per pair for as
// long as it liked (tens of MB per connection at a high command rate).
func TestHoleWatchBounded(t *testing.T) {
	s := &sessionActor{window: cmdsn.NewWindow(0, 16)}
	s.cfg.ConnCfg.DataOutTimeout = time.Minute
	s.hole.armed = true // the timer is due: waiting needs no context
	accept := func(sn uint32) []*pb.CommandOrder {
		ready, ok := s.window.Accept(&pb.CommandOrder{CmdSn: sn, Itt: sn, MaxCmdSn: sn + 15})
		if !ok {
			t.Fatalf("CmdSN %d not accepted", sn)
		}
		return ready
	}
	for sn := uint32(0); sn < 200_000; sn += 2 {
		if ready := accept(sn + 1); len(ready) == 0 && s.window.Waits(sn+1) {
			s.waiting(nil, sn+1)
		}
		if ready := accept(sn); len(ready) != 2 {
			t.Fatalf("CmdSN %d released %d requests, want 2", sn, len(ready))
		}
	}
	if n := cap(s.hole.queue); n > 64 {
		t.Fatalf("the hole watch holds %d entries (capacity) for requests that all ran; want a few", n)
	}
	if _, ok := s.hole.oldest(s.window.Waits); ok {
		t.Fatal("a request still counts as waiting")
	}
}
