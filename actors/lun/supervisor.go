package lun

import (
	"fmt"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/go-hclog"

	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/scsi"
)

// workerSupervisor restarts a failed IO worker and answers the task it was holding
// with CHECK CONDITION (HARDWARE ERROR, INTERNAL TARGET FAILURE), so that a panic in
// the IO path never leaves an initiator waiting for a task that will not complete.
type workerSupervisor struct {
	log hclog.Logger
	// lun is the LUN actor, to which the request of a failed worker that
	// held a range lock is returned so the lock is released.
	lun *actor.PID
}

// HandleFailure is called by protoactor with the message the worker panicked on.
func (s *workerSupervisor) HandleFailure(sys *actor.ActorSystem, sup actor.Supervisor, child *actor.PID,
	_ *actor.RestartStatistics, reason any, message any) {
	msg := actor.UnwrapEnvelopeMessage(message)
	// failed answers a task the worker held and will not finish.
	failed := func(t *pb.ScsiTask) {
		sys.Root.Send(t.ReplyTo.PID(), pb.CheckCondition(t.Itt, scsi.InternalTargetFailure()))
	}
	req, _ := msg.(*pb.IoRequest)
	switch {
	case req != nil && len(req.Parts) > 0:
		// A merged run of reads or writes: answer every part (none holds a lock or
		// a token).
		s.log.Error("IO worker failed on a merged run; answering its tasks and restarting it",
			"worker", child.Id, "tasks", len(req.Parts), "reason", fmt.Sprint(reason))
		for _, p := range req.Parts {
			failed(p.Task)
		}
	case req != nil && req.Task != nil:
		s.log.Error("IO worker failed; answering its task and restarting it",
			"worker", child.Id, "itt", req.Task.Itt, "reason", fmt.Sprint(reason))
		if !req.Immediate { // an immediate task was answered already
			failed(req.Task)
		}
		if (req.LockId != 0 || req.Token != 0) && s.lun != nil {
			// Without an answer the LUN takes the IO as failed.
			req.Answer = nil
			sys.Root.Send(s.lun, req)
		}
	default:
		s.log.Error("IO worker failed; restarting it", "worker", child.Id, "reason", fmt.Sprint(reason))
	}
	sup.RestartChildren(child)
}
