package lun

import (
	"fmt"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/go-hclog"

	"github.com/atgt/atgt/actors/trace"

	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/scsi"
)

// workerSupervisor is the LUN's strategy for its IO workers: a worker that fails is
// restarted, and the IO it held is retried once on a fresh worker while the LUN
// keeps the IO's task count and range lock, so that a crash the retry gets past is
// invisible to the initiator; a second failure is answered CHECK CONDITION
// (HARDWARE ERROR, INTERNAL TARGET FAILURE). A worker whose call the LUN abandoned is
// stopped instead. protoactor calls it on the LUN actor's goroutine, so it works on
// the LUN's state directly.
type workerSupervisor struct {
	log hclog.Logger
	// lun is the LUN actor (the latest, after a restart).
	lun *lunActor
}

// HandleFailure is called by protoactor when a worker panics.
func (s *workerSupervisor) HandleFailure(sys *actor.ActorSystem, sup actor.Supervisor, child *actor.PID,
	_ *actor.RestartStatistics, reason any, _ any) {
	if s.lun == nil || s.lun.pool == nil {
		s.log.Warn("IO worker failed; restarting it", "worker", child.Id, "reason", fmt.Sprint(reason))
		sup.RestartChildren(child)
		return
	}
	s.lun.workerFailed(sys.Root, sup, child, reason)
}

// retryable reports IO that may run twice: under the locks the LUN keeps, doing it
// again has the same effect as doing it once.
func retryable(io *pb.IoRequest) bool {
	switch io.Kind {
	case pb.IoKind_IO_KIND_READ, pb.IoKind_IO_KIND_WRITE, pb.IoKind_IO_KIND_VERIFY, pb.IoKind_IO_KIND_UNMAP,
		pb.IoKind_IO_KIND_WRITE_SAME, pb.IoKind_IO_KIND_SYNC, pb.IoKind_IO_KIND_LBA_STATUS:
		return !io.Immediate
	}
	return false
}

// workerFailed applies the strategy to the worker child. It runs outside Receive
// and its in-place recovery, so a failure of its own is handled here: the worker is
// restarted all the same and the IO it held, if taken and not yet passed on, is
// answered, rather than protoactor restarting the LUN actor and dropping its state.
func (l *lunActor) workerFailed(sc actor.SenderContext, sup actor.Supervisor, child *actor.PID, reason any) {
	log, why := l.cfg.Log, fmt.Sprint(reason)
	var io *pb.IoRequest
	settled := false // io passed on (retried, answered), or none taken
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		defer func() { _ = recover() }() // a second failure must not escape either
		log.Error("handling a failed IO worker failed; restarting the worker", "worker", child.Id, "panic", r)
		// IO being handed on (the retry, lock waiters a failed IO released)
		// ends as failed, as after a failure in Receive (handing.go).
		l.endHanding(sc)
		if io != nil && !settled {
			l.finish(sc, io, scsi.InternalTargetFailure(), false)
		}
		sup.RestartChildren(child)
	}()
	s := l.pool.byID[child.Id]
	if s != nil && s.dead {
		// An abandoned call came back by panicking: its tasks were answered.
		log.Warn("abandoned IO worker failed as its call returned; stopping it", "worker", child.Id, "reason", why)
		l.lateReturn(sc, s)
		sup.StopChildren(child)
		return
	}
	if s != nil {
		io = s.cur.Swap(nil)
		if h := s.handed.Swap(nil); io == nil {
			io = h // it failed before it took the IO handed to it
		}
	}
	sup.RestartChildren(child)
	l.stats.WorkerRestarted()
	switch {
	case io == nil:
		settled = true
		log.Warn("IO worker failed outside an IO; restarted it", "worker", child.Id, "reason", why)
	case retryable(io) && !io.Retried:
		io.Retried = true
		l.flag(io, trace.FlightRetried, trace.HopRetry, why)
		log.Warn("IO worker failed; restarted it and retrying its IO", "itt", itts(io), "op", io.Kind.String(),
			"worker", child.Id, "reason", why)
		settled = true
		l.redispatch(sc, io)
	default:
		l.flag(io, trace.FlightRetried, trace.HopRetry, why)
		log.Error("IO worker failed; restarted it and answering its IO CHECK CONDITION", "itt", itts(io),
			"op", io.Kind.String(), "retried", io.Retried, "worker", child.Id, "reason", why)
		settled = true
		l.finish(sc, io, scsi.InternalTargetFailure(), false)
	}
}
