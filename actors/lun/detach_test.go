package lun

import (
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	pb "github.com/atgt/atgt/messages/atgtv1"
)

// TestAbortSeesIOHandedToIdleWorker: a large IO goes straight to an idle worker's
// mailbox; an ABORT TASK that the LUN handles before the worker took it still
// detaches it once its call hangs past the grace (found by a review: the function
// looked only at the workers' current calls and queues, so with no ioTimeout the
// task was never detached and the function never answered by the connection).
func TestAbortSeesIOHandedToIdleWorker(t *testing.T) {
	for round := 0; round < 5; round++ {
		b := newHoldBackend(t)
		h := newLUNHarness(t, b) // no ioTimeout: only the detach can end the call
		b.hold("read", 0)
		proc, _ := h.sys.ProcessRegistry.Get(h.lun)
		// The IO and the function reach the LUN in one turn, before the worker runs.
		proc.SendSystemMessage(h.lun, &actor.SuspendMailbox{})
		h.send(h.readLarge(1, 0))
		h.sys.Root.Send(h.lun, &pb.TaskManagement{Function: pb.TmfFunction_TMF_FUNCTION_ABORT_TASK, Itt: 100,
			Target: "t", ReplyTo: pb.NewPid(h.conn), ReferencedItt: 1, FanOut: 1})
		proc.SendSystemMessage(h.lun, &actor.ResumeMailbox{})
		<-h.tmfs
		select {
		case <-h.done:
		case <-time.After(tmfGrace + time.Second):
			t.Fatalf("round %d: the aborted task was never detached", round)
		}
		h.sys.Shutdown()
	}
}

// TestRetiredLUNDetachesAbortedTask: a LUN retired by force while a call hangs
// answers an ABORT TASK as a LUN that is gone, and still detaches the task, so that
// neither the connection (which waits for the aborted task) nor the retirement
// waits for the call (found by a review).
func TestRetiredLUNDetachesAbortedTask(t *testing.T) {
	b := newHoldBackend(t)
	h := newLUNHarness(t, b) // no ioTimeout
	b.hold("read", 0)
	h.send(h.read(1, 0))
	b.waitHeld(t, "read@0")
	retired := make(chan RetireResult, 1)
	h.sys.Root.Send(h.lun, &Retire{Force: true, Done: func(r RetireResult) { retired <- r }})
	h.sys.Root.Send(h.lun, &pb.TaskManagement{Function: pb.TmfFunction_TMF_FUNCTION_ABORT_TASK, Itt: 100,
		Target: "t", ReplyTo: pb.NewPid(h.conn), ReferencedItt: 1, FanOut: 1})
	<-h.tmfs
	select {
	case <-h.done:
	case <-time.After(tmfGrace + time.Second):
		t.Fatal("the retired LUN never detached the aborted task")
	}
	select {
	case <-retired:
	case <-time.After(2 * time.Second):
		t.Fatal("the retirement did not end once the task was detached")
	}
}
