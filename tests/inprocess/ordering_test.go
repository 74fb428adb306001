package inprocess

import (
	"testing"
	"time"

	"github.com/atgt/atgt/tests/initiator"
)

// TestTaskAttributes: an ORDERED task starts only after the tasks before it have
// completed, later SIMPLE tasks wait for it, and a HEAD OF QUEUE task overtakes them.
func TestTaskAttributes(t *testing.T) {
	const delay = 300 * time.Millisecond
	slow, wrap := slowWrites(delay)
	svc := start(t, baseConfig(t), wrap)
	s := dial(t, svc.Addrs()[0], initiator.Options{ISID: isid(950)})
	untilGood(t, s)
	slow.Store(true)

	finished := func(task *initiator.Task) time.Time {
		t.Helper()
		if _, err := task.Wait(); err != nil {
			t.Fatalf("task: %v", err)
		}
		return time.Now()
	}
	tur := []byte{0, 0, 0, 0, 0, 0}
	begin := time.Now()
	slowWrite := s.SubmitAttr(1, 0, write16(0, 1), randomData(3, blockSize), 0)
	time.Sleep(50 * time.Millisecond)
	ordered := s.SubmitAttr(2, 0, tur, nil, 0) // ORDERED: waits for the slow write
	time.Sleep(20 * time.Millisecond)
	after := s.SubmitAttr(1, 0, tur, nil, 0) // SIMPLE after ORDERED: waits too
	time.Sleep(20 * time.Millisecond)
	hoq := s.SubmitAttr(3, 0, tur, nil, 0) // HEAD OF QUEUE: runs at once

	hoqDone := finished(hoq)
	writeDone := finished(slowWrite)
	orderedDone := finished(ordered)
	afterDone := finished(after)
	if hoqDone.Sub(begin) > delay/2 {
		t.Errorf("HEAD OF QUEUE task took %v: it waited behind the ORDERED task", hoqDone.Sub(begin))
	}
	if orderedDone.Before(writeDone.Add(-10*time.Millisecond)) || orderedDone.Sub(begin) < delay*3/4 {
		t.Errorf("ORDERED task finished %v after start, before the earlier write (%v)", orderedDone.Sub(begin), writeDone.Sub(begin))
	}
	if afterDone.Sub(begin) < delay*3/4 {
		t.Errorf("SIMPLE task after an ORDERED one finished after %v, before the ORDERED task could run", afterDone.Sub(begin))
	}

	// Without an ORDERED task in the way, a SIMPLE task does not wait for the write.
	begin = time.Now()
	slowWrite = s.SubmitAttr(1, 0, write16(8, 1), randomData(4, blockSize), 0)
	time.Sleep(30 * time.Millisecond)
	simple := s.SubmitAttr(1, 0, tur, nil, 0)
	if d := finished(simple).Sub(begin); d > delay/2 {
		t.Errorf("SIMPLE task waited %v for an unrelated SIMPLE write", d)
	}
	finished(slowWrite)
}
