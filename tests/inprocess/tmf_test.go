package inprocess

import (
	"errors"
	"testing"
	"time"

	"github.com/atgt/atgt/messages/iscsi"
	"github.com/atgt/atgt/tests/initiator"
)

// untilGood clears pending unit attentions with TEST UNIT READY.
func untilGood(t *testing.T, s *initiator.Session) {
	t.Helper()
	for i := 0; i < 10; i++ {
		if s.TestUnitReady(0) == nil {
			return
		}
	}
	t.Fatal("TEST UNIT READY never became GOOD")
}

// TestTaskManagement: ABORT TASK of a task an IO worker holds is answered only after
// the worker is done with it, and the task itself gets no response; QUERY TASK tells
// whether a task exists; LOGICAL UNIT RESET raises a unit attention; unknown tasks
// and unsupported functions get their response codes.
func TestTaskManagement(t *testing.T) {
	gate := newGate()
	svc := start(t, baseConfig(t), gate.wrap(0))
	s := dial(t, svc.Addrs()[0], initiator.Options{ISID: isid(900), Timeout: 3 * time.Second})
	untilGood(t, s)

	gate.shut(t, "write")
	task := s.Submit(0, write16(0, 8), randomData(1, 8*blockSize), 0)
	itt := task.ITT()
	gate.waitHeld(t, 1) // the write is with an IO worker

	if resp, err := s.TaskMgmt(iscsi.TMFQueryTask, 0, itt); err != nil || resp != iscsi.TMFRespSucceeded {
		t.Fatalf("QUERY TASK of a running task: response %d, %v; want 7 (function succeeded)", resp, err)
	}
	type answer struct {
		resp uint8
		err  error
	}
	aborted := make(chan answer, 1)
	go func() {
		resp, err := s.TaskMgmt(iscsi.TMFAbortTask, 0, itt)
		aborted <- answer{resp, err}
	}()
	// The answer must wait for the worker: nothing may come while the write is held
	// (a bounded look, since what is checked is that nothing happens).
	select {
	case a := <-aborted:
		t.Fatalf("ABORT TASK answered (%d, %v) while an IO worker still held the task", a.resp, a.err)
	case <-time.After(300 * time.Millisecond):
	}
	gate.passOne(t)
	if a := <-aborted; a.err != nil || a.resp != iscsi.TMFRespComplete {
		t.Fatalf("ABORT TASK: response %d, %v; want 0", a.resp, a.err)
	}
	if _, err := task.Wait(); !errors.Is(err, initiator.ErrTimeout) {
		t.Errorf("aborted task got an answer (err %v); an aborted task must get none", err)
	}
	gate.release()

	if resp, err := s.TaskMgmt(iscsi.TMFAbortTask, 0, 0x7777); err != nil || resp != iscsi.TMFRespTaskNotExist {
		t.Errorf("ABORT TASK of an unknown task: response %d, %v; want 1 (task does not exist)", resp, err)
	}
	if resp, err := s.TaskMgmt(iscsi.TMFQueryTask, 0, 0x7777); err != nil || resp != iscsi.TMFRespComplete {
		t.Errorf("QUERY TASK of an unknown task: response %d, %v; want 0", resp, err)
	}
	if resp, err := s.TaskMgmt(iscsi.TMFTaskReassign, 0, 0x7777); err != nil || resp != iscsi.TMFRespNotSupported {
		t.Errorf("TASK REASSIGN: response %d, %v; want 5 (not supported at ERL 0)", resp, err)
	}
	if resp, err := s.TaskMgmt(iscsi.TMFLUNReset, 0, 0); err != nil || resp != iscsi.TMFRespComplete {
		t.Fatalf("LOGICAL UNIT RESET: response %d, %v; want 0", resp, err)
	}
	err := s.TestUnitReady(0)
	var se *initiator.SCSIError
	if !errors.As(err, &se) || se.Key() != 6 || se.ASC() != 0x29 {
		t.Fatalf("TEST UNIT READY after LUN reset: %v; want UNIT ATTENTION 29/xx", err)
	}
	if resp, err := s.TaskMgmt(iscsi.TMFLUNReset, 5, 0); err != nil || resp != iscsi.TMFRespLUNNotExist {
		t.Errorf("LOGICAL UNIT RESET of a missing LUN: response %d, %v; want 2", resp, err)
	}
	// The session still works.
	if err := s.Write(0, 16, randomData(2, blockSize), blockSize, true); err != nil {
		t.Fatalf("write after task management: %v", err)
	}
}
