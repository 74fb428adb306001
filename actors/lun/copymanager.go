package lun

import (
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
}

// startCopy hands io, a copy already counted in flight, to a new copier. The copy
// takes no range lock here: each of its writes to this LU comes back as a command
// of its own and is ordered then.
func (l *lunActor) startCopy(ctx actor.Context, io *pb.IoRequest) {
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
		l.cfg.Device.IODone(m.io.Token, true)
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

// detachCopies ends the copies of d still running: each is answered now; its
// copier stops issuing commands, and the one it has in flight is aborted at its LU.
func (l *lunActor) detachCopies(sc actor.SenderContext, d *detach, why string) {
	for t, rc := range l.copies {
		if !d.tasks[t] {
			continue
		}
		delete(l.copies, t)
		sc.Send(rc.pid, stopCopyMsg)
		l.flag(rc.io, trace.FlightAborted, trace.HopAborted, why)
		l.finish(sc, rc.io, errAborted, false)
	}
}

// addCopies adds the tasks of running copies to a task management function's set.
func (l *lunActor) addCopies(add func(*pb.ScsiTask)) {
	for t := range l.copies {
		add(t)
	}
}
