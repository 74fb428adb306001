package lun

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/atgt/atgt/actors/trace"
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/scsi"
)

// The LUN's side of an EXTENDED COPY that involves another logical unit
// (copier.go): the copy is a task of this LUN like any other, counted in flight
// from the moment it is handed on (so an ORDERED task, a drain or a retirement
// waits for it), found by task management, and answered here when its copier ends.

// runningCopy is a copy whose copier runs.
type runningCopy struct {
	io  *pb.IoRequest
	pid *actor.PID
	// detaching: detached (detachCopies); answered when the copier reports its
	// command at the other LU fenced, or after copyFenceWait.
	detaching bool
}

// copyFenceWait bounds how long a detached copy waits for its copier's report
// that the command it had in flight is fenced: a task management function and a
// nexus loss are answered in bounded time even if the other LU never reports.
const copyFenceWait = tmfGrace

// copyFenceLate ends a detached copy whose copier did not report in time.
type copyFenceLate struct{ io *pb.IoRequest }

// startCopy hands io, a copy already counted in flight, to a new copier. The copy
// takes no range lock here: each of its writes to this LU comes back as a command
// of its own and is ordered then. The copy is the LUN's handing (handing.go) until
// it is in copies: a failure of the actor before that ends it as a failed IO.
func (l *lunActor) startCopy(ctx actor.Context, io *pb.IoRequest) {
	if f := handOffFault.Load(); f != nil {
		(*f)(io)
	}
	if l.copies == nil {
		l.copies = map[*pb.ScsiTask]*runningCopy{}
	}
	pid := ctx.Spawn(copierProps(io, l.cfg.Peers, l.cfg.Log))
	l.copies[io.Task] = &runningCopy{io: io, pid: pid}
}

// copyEnded answers the copy whose copier ended, unless task management already
// detached it.
func (l *lunActor) copyEnded(ctx actor.Context, m *copyDone) {
	rc := l.copies[m.io.Task]
	if rc == nil || rc.io != m.io {
		return
	}
	delete(l.copies, m.io.Task)
	if rc.detaching {
		l.finish(ctx, m.io, errAborted, false)
		return
	}
	if m.err != nil {
		if m.err != errCopyAborted {
			l.cfg.Log.Warn("EXTENDED COPY aborted", "lun", l.cfg.ID, "itt", m.io.Task.Itt, "error", m.err)
		}
		l.finish(ctx, m.io, m.err, false)
		return
	}
	t := m.io.Task
	l.reply(ctx, t, &pb.ScsiCompletion{Itt: t.Itt, Status: uint32(scsi.StatusGood), TransferLength: m.io.TransferLength})
	if m.io.Token != 0 {
		l.cfg.Device.IODone(m.io.Token, nil)
	}
	l.order.done(func(msg any) { ctx.Send(l.self, msg) })
}

// stopCopies tells the copiers of the copies d aborts to issue nothing more.
func (l *lunActor) stopCopies(sc actor.SenderContext, d *detach) {
	for t, rc := range l.copies {
		if d.tasks[t] {
			sc.Send(rc.pid, stopCopyMsg)
		}
	}
}

// detachCopies ends the copies of d still running: each copier stops issuing
// commands and has the LU holding its command in flight detach it at once
// (fenceCopy); the copy is answered when the copier reports that command answered
// or fenced (copyEnded), or after copyFenceWait (copyFenceLate). Answered earlier,
// a write the initiator sends to the other LU once the function completed (or
// through the connection that reinstated a lost one) could be overwritten by the
// copy's write still in that LU's backend (xcopy review F1).
func (l *lunActor) detachCopies(ctx actor.Context, d *detach, why string) {
	for t, rc := range l.copies {
		if !d.tasks[t] || rc.detaching {
			continue
		}
		rc.detaching = true
		ctx.Send(rc.pid, fenceCopyMsg)
		l.flag(rc.io, trace.FlightAborted, trace.HopAborted, why)
		root, self, io := ctx.ActorSystem().Root, ctx.Self(), rc.io
		time.AfterFunc(copyFenceWait, func() { root.Send(self, &copyFenceLate{io: io}) })
	}
}

// copyFenceLate answers a detached copy whose copier has not reported in time.
func (l *lunActor) copyFenceLate(sc actor.SenderContext, m *copyFenceLate) {
	rc := l.copies[m.io.Task]
	if rc == nil || rc.io != m.io || !rc.detaching {
		return
	}
	l.cfg.Log.Warn("EXTENDED COPY detached without its copier's report that its command at the other LU is fenced",
		"lun", l.cfg.ID, "itt", m.io.Task.Itt)
	delete(l.copies, m.io.Task)
	l.finish(sc, m.io, errAborted, false)
}

// fenceCommand detaches a copier's command at once (see fenceCommand) and tells
// the copier.
func (l *lunActor) fenceCommand(ctx actor.Context, m *fenceCommand) {
	l.flush(ctx)
	d := l.aborted(&pb.TaskManagement{Function: pb.TmfFunction_TMF_FUNCTION_ABORT_TASK, ReferencedItt: m.itt,
		ReplyTo: m.replyTo})
	if len(d.tasks) > 0 {
		d.lost, d.copyEnded = true, true
		l.detach(ctx, d)
	}
	ctx.Send(m.replyTo.PID(), &commandFenced{itt: m.itt})
}

// addCopies adds the tasks of running copies to a task management function's set.
func (l *lunActor) addCopies(add func(*pb.ScsiTask)) {
	for t := range l.copies {
		add(t)
	}
}
