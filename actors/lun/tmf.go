package lun

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/atgt/atgt/actors/trace"
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/scsi"
)

// tmfGrace is how long an aborted task may stay in the LUN before it is detached:
// the connection answers the function once its aborted tasks are ended, and must
// within 5 s even if a backend call never returns.
const tmfGrace = 2 * time.Second

// detach is a task management function's set of tasks to end if they are still in
// the LUN when its grace runs out.
type detach struct {
	tasks map[*pb.ScsiTask]bool
	// lost: the tasks of a nexus that ended (nexusLost), whose reads in a backend
	// call are left to finish; connOnly: only their connection ended (a connection
	// reinstatement), for the log.
	lost, connOnly bool
	// waiting: only the tasks not in a backend call are ended (another node's
	// reset waits for the calls first: gateways.go).
	waiting bool
	// copyEnded: a copier's command whose copy was detached (fenceCommand), for
	// the log.
	copyEnded bool
}

// nexusLost ends the tasks of the connection whose I_T nexus ended, as SAM-5 has a
// nexus loss abort them: the waiting ones are dropped (their answers would go to a
// connection that is gone), and a write still in a backend call is abandoned, its
// range fenced until the call returns (fence.go), so that nothing written through a
// session that reinstated this one is overwritten by it. It returns how many tasks
// it ended.
func (l *lunActor) nexusLost(ctx actor.Context, m *pb.NexusLoss) int {
	if m.ReplyTo == nil {
		return 0
	}
	l.flush(ctx)
	d := l.aborted(&pb.TaskManagement{Function: pb.TmfFunction_TMF_FUNCTION_ABORT_TASK_SET, ReplyTo: m.ReplyTo})
	if len(d.tasks) == 0 {
		return 0
	}
	d.lost, d.connOnly = true, m.ConnectionOnly
	l.detach(ctx, d)
	return len(d.tasks)
}

// taskManagement applies a task management function's effect on the logical unit and
// answers the connection. Resets restore the mode parameters (scsidev.Device.Reset) and establish a unit attention for every I_T nexus,
// including the one that asked (SAM-5 6.3): its next command learns of the reset too.
// CLEAR TASK SET establishes none: with TAS=1 the other nexuses learn of it by their
// tasks' TASK ABORTED status (SAM-5, CLEAR TASK SET). The tasks the function aborts (see aborted)
// are detached after tmfGrace if still here; the answer does not wait for them, so a
// hung backend call never holds it.
func (l *lunActor) taskManagement(ctx actor.Context, m *pb.TaskManagement) {
	switch m.Function {
	case pb.TmfFunction_TMF_FUNCTION_LOGICAL_UNIT_RESET:
		l.cfg.Device.Reset()
		l.cfg.Device.AddUnitAttention("", scsi.BusDeviceReset())
		l.resetReservations()
	case pb.TmfFunction_TMF_FUNCTION_TARGET_WARM_RESET, pb.TmfFunction_TMF_FUNCTION_TARGET_COLD_RESET:
		l.cfg.Device.Reset()
		l.cfg.Device.AddUnitAttention("", scsi.PowerOnReset())
		l.resetReservations()
	}
	l.cfg.Log.Info("task management", "function", m.Function.String(), "nexus", m.Nexus)
	l.flush(ctx)
	l.detachLater(ctx, m)
	done := &pb.TaskManagementDone{Itt: m.Itt, FanOut: m.FanOut}
	if !l.announced(ctx, m, done) {
		ctx.Send(m.ReplyTo.PID(), done)
	}
}

// detachLater has the tasks m aborts detached after the grace if they are still here.
func (l *lunActor) detachLater(ctx actor.Context, m *pb.TaskManagement) {
	d := l.aborted(m)
	if len(d.tasks) == 0 {
		return
	}
	l.stopCopies(ctx, d) // an aborted copy issues nothing more
	grace := tmfGrace
	if l.cfg.IOTimeout > 0 {
		grace = min(grace, l.cfg.IOTimeout)
	}
	root, self := ctx.ActorSystem().Root, ctx.Self()
	time.AfterFunc(grace, func() { root.Send(self, d) })
}

// aborted collects the tasks in the LUN that m aborts. ABORT TASK and ABORT TASK SET
// act on the asking I_T nexus's tasks only (the one ABORT TASK names, or all of
// them here); CLEAR TASK SET and the resets on the whole task set, which every I_T
// nexus shares (TST=000): the other connections answer their tasks TASK ABORTED as
// they leave (TAS=1; they learn of the function by TaskSetAborted, which the asking
// connection sent before the function itself), so a hung call holding one is
// detached too. A SANITIZE goes on through aborts (SBC-4 4.11.3), so it is never
// detached.
func (l *lunActor) aborted(m *pb.TaskManagement) *detach {
	d := &detach{tasks: map[*pb.ScsiTask]bool{}}
	own := m.Function == pb.TmfFunction_TMF_FUNCTION_ABORT_TASK || m.Function == pb.TmfFunction_TMF_FUNCTION_ABORT_TASK_SET
	add := func(t *pb.ScsiTask) {
		if t == nil || t.ReplyTo == nil || m.ReplyTo == nil || (len(t.Cdb) > 0 && t.Cdb[0] == scsi.OpSanitize) {
			return
		}
		if own && (t.ReplyTo.Id != m.ReplyTo.Id || t.ReplyTo.Address != m.ReplyTo.Address) {
			return
		}
		if m.Function == pb.TmfFunction_TMF_FUNCTION_ABORT_TASK && t.Itt != m.ReferencedItt {
			return
		}
		d.tasks[t] = true
	}
	addIO := func(io *pb.IoRequest) {
		add(io.Task)
		for _, p := range io.Parts {
			add(p.Task)
		}
	}
	l.pool.eachIO(addIO)
	for _, q := range l.locks.queue {
		addIO(q.io)
	}
	for _, t := range l.order.queue {
		add(t)
	}
	l.addCopies(add)
	return d
}

// detach ends the tasks of d still in the LUN once its grace is over: a call that
// holds one is abandoned (its range stays fenced until it returns), and one still
// waiting is answered without running. The connection suppresses both answers.
func (l *lunActor) detach(ctx actor.Context, d *detach) {
	has := func(io *pb.IoRequest) bool {
		if d.tasks[io.Task] {
			return true
		}
		for _, p := range io.Parts {
			if d.tasks[p.Task] {
				return true
			}
		}
		return false
	}
	why := "task management"
	if d.lost {
		why = "I_T nexus lost"
	}
	if d.connOnly {
		why = "connection reinstated"
	}
	if d.copyEnded {
		why = "its EXTENDED COPY detached"
	}
	// Waiting IO first: the queue is drained (workers may take some meanwhile) and
	// what is not aborted put back in order below; aborted parts of a merged run
	// leave it. Before the calls are abandoned: the worker that replaces an
	// abandoned one takes queued IO as soon as it starts, and found the aborted
	// tasks still queued (seen under the race detector).
	var keep []*pb.IoRequest
	sift := func(io *pb.IoRequest) {
		if !has(io) {
			keep = append(keep, io)
			return
		}
		if len(io.Parts) == 0 {
			l.flag(io, trace.FlightAborted, trace.HopAborted, why)
			l.finish(ctx, io, errAborted, false)
			return
		}
		for _, p := range io.Parts {
			if d.tasks[p.Task] {
				l.flag(p, trace.FlightAborted, trace.HopAborted, why)
				l.finish(ctx, p, errAborted, false)
			} else {
				keep = append(keep, p)
			}
		}
	}
	for io := l.pool.sh.q.take(); io != nil; io = l.pool.sh.q.take() {
		sift(io)
	}
	over := l.pool.overflow
	l.pool.overflow = nil
	for _, io := range over {
		sift(io)
	}
	for _, s := range l.pool.slots {
		if io := s.cur.Load(); !d.waiting && io != nil && has(io) && (!d.lost || io.Kind.Writes()) &&
			s.cur.CompareAndSwap(io, abandonedIO) {
			each(io, func(t *pb.ScsiTask) { // counted as aborted, not as the LUN's time-outs
				if d.tasks[t] {
					t.Flight |= trace.FlightAborted
				}
			})
			l.abandon(ctx, s, io, why)
		}
	}
	l.detachCopies(ctx, d, why)
	// The calls abandoned above fenced their ranges while the queue was empty, so
	// what it held goes back through the fences.
	l.dispatchUnfenced(ctx, keep...)
	for i := 0; i < len(l.locks.queue); {
		q := l.locks.queue[i]
		if !has(q.io) {
			i++
			continue
		}
		l.locks.queue = append(l.locks.queue[:i], l.locks.queue[i+1:]...)
		if q.exclusive {
			l.locks.exclusives--
		}
		l.flag(q.io, trace.FlightAborted, trace.HopAborted, why)
		l.finish(ctx, q.io, errAborted, false)
	}
	l.handOn(ctx, l.locks.retry()...)
	kept := l.order.queue[:0]
	for _, t := range l.order.queue {
		if d.tasks[t] {
			t.Flight |= trace.FlightAborted
			if t.TraceId != 0 {
				l.hop(t, trace.HopAborted, nil, "", why)
			}
			l.replyAborted(ctx, t, pb.CheckCondition(t.Itt, errAborted))
		} else {
			kept = append(kept, t)
		}
	}
	clear(l.order.queue[len(kept):])
	l.order.queue = kept
	l.pump(ctx)
}

// errAborted answers an aborted task that never ran (the connection suppresses it).
var errAborted = scsi.AbortedCommand(0, 0)

// resetReservations drops a RESERVE(6)/(10) reservation, which a reset ends;
// persistent reservations survive resets (SPC-4 5.13.11).
func (l *lunActor) resetReservations() {
	if l.cfg.ClusterPR != nil {
		l.clusterReset()
		return
	}
	if l.cfg.Reservations != nil {
		l.cfg.Reservations.Reset()
	}
}
