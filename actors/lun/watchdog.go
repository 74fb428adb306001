package lun

import (
	"math"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/atgt/atgt/actors/scsidev"
	"github.com/atgt/atgt/actors/trace"
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/scsi"
)

// The watchdog. A backend call that does not return within the LUN's ioTimeout is
// abandoned: its tasks are answered, its worker replaced, and a write's byte range
// fenced until the call really returns. One ticker per LUN scans the workers every
// ioTimeout/4; workers stamp calls with the tick count, so the data path pays for no
// timer and reads no clock.

// watchdogTicks is how many ticks a call may span: with a tick every ioTimeout/4,
// a call is abandoned between ioTimeout and 1.25 ioTimeout after it began.
const watchdogTicks = 5

// tick is the watchdog's message to its LUN.
type tick struct{}

var tickMsg = &tick{}

var (
	// errTimeout answers an abandoned call's tasks: ABORTED COMMAND, LOGICAL
	// UNIT COMMUNICATION TIME-OUT (08/01), which initiators retry.
	errTimeout = scsi.CommandTimeout()
	// errNotReady answers commands while as many calls are abandoned as the LUN
	// has workers: NOT READY, LOGICAL UNIT IS IN PROCESS OF BECOMING READY
	// (04/01), which initiators retry after a delay; it clears as calls return.
	errNotReady = scsi.NotReadyBecomingReady()
)

// startWatchdog starts the ticker, unless the LUN has no ioTimeout.
func (l *lunActor) startWatchdog(ctx actor.Context) {
	if l.cfg.IOTimeout <= 0 {
		return
	}
	period := max(l.cfg.IOTimeout/(watchdogTicks-1), time.Millisecond)
	stop := make(chan struct{})
	l.stopWatchdog = stop
	root, self := ctx.ActorSystem().Root, ctx.Self()
	go func() {
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				root.Send(self, tickMsg)
			case <-stop:
				return
			}
		}
	}()
}

func (l *lunActor) endWatchdog() {
	if l.stopWatchdog != nil {
		close(l.stopWatchdog)
		l.stopWatchdog = nil
	}
}

// tick advances the clock and abandons the calls that have run too long.
func (l *lunActor) tick(ctx actor.Context) {
	now := l.pool.sh.clock.Add(1)
	for _, s := range l.pool.slots {
		io := s.cur.Load()
		if io == nil || now-s.since.Load() < watchdogTicks {
			continue
		}
		if s.cur.CompareAndSwap(io, abandonedIO) {
			l.abandon(ctx, s, io, "timeout")
		}
	}
}

// stalled reports whether as many calls are abandoned as the LUN has workers: new
// work is then refused rather than given to workers that may hang as well.
func (l *lunActor) stalled() bool { return l.pool.abandoned >= len(l.pool.slots) }

// runsWhenStalled reports the commands a stalled LUN still runs (as during a
// SANITIZE, SBC-3 4.11): they touch no backend.
func runsWhenStalled(cdb []byte) bool {
	switch cdb[0] {
	case scsi.OpInquiry, scsi.OpReportLUNs, scsi.OpRequestSense:
		return true
	}
	return false
}

// abandon gives up on the call s holds (its cur already swapped for abandonedIO):
// the tasks are answered, the write range fenced, and a new worker takes the slot.
func (l *lunActor) abandon(ctx actor.Context, s *slot, io *pb.IoRequest, why string) {
	p := l.pool
	p.abandoned++
	l.stats.Abandoned()
	l.flag(io, trace.FlightAbandoned, trace.HopAbandoned, why)
	s.dead = true
	l.cfg.Log.Warn("backend call abandoned; its worker is replaced", "why", why, "itt", itts(io),
		"op", io.Kind.String(), "offset", io.Offset, "length", io.Length, "worker", s.pid.Id, "abandoned", p.abandoned)
	if io.Kind.Writes() {
		// Held until the call returns: no later write to the range may start
		// before it, so none can be overwritten by it.
		span := l.span(io)
		s.fence = l.locks.fence(span)
		l.holdBack(ctx, span)
	}
	p.spawn(ctx, s.index)
	ctx.Stop(s.pid) // once the call returns
	if io.Token != 0 && sanitizes(io.Kind) {
		// The LU stays SANITIZE IN PROGRESS while the overwrite or erase is still
		// in the backend: it ends, failed, when the call returns (lateReturn).
		s.token = io.Token
	}
	s.saved = l.mayLand(io)
	l.end(ctx, io, errTimeout, true, s.token == 0)
	if p.abandoned == len(p.slots) {
		l.cfg.Log.Warn("LUN not ready: as many abandoned backend calls as workers; answering NOT READY until they return",
			"abandoned", p.abandoned)
	}
}

// lateReturn ends an abandoned call that came back: its fence goes.
func (l *lunActor) lateReturn(sc actor.SenderContext, s *slot) {
	if !s.dead || s.returned {
		return
	}
	s.returned = true
	p := l.pool
	delete(p.byID, s.pid.Id)
	was := l.stalled()
	p.abandoned--
	l.cfg.Log.Warn("abandoned backend call returned; its result was discarded", "worker", s.pid.Id, "abandoned", p.abandoned)
	if s.token != 0 {
		l.cfg.Device.IODone(s.token, errAbandonedIO) // the abandoned SANITIZE failed
	}
	if s.saved != nil {
		// The abandoned reservation save may have landed (prsave.go).
		l.prLate = append(l.prLate, s.saved...)
		s.saved = nil
		l.resaveIfDue(sc)
	}
	if was && !l.stalled() {
		l.cfg.Log.Warn("LUN ready again", "abandoned", p.abandoned)
	}
	if s.fence != 0 {
		l.handOn(sc, l.locks.unfence(s.fence)...)
		if len(l.order.fences) > 0 {
			// A reservation change's fence waits for the write (cluster.go).
			sc.Send(l.self, &drained{})
		}
	}
}

// finish ends io without (or after giving up on) performing it: each task is answered
// CHECK CONDITION with err, and what the IO held is released as a worker would.
// detached marks answers to tasks whose write data a backend call may still read.
func (l *lunActor) finish(sc actor.SenderContext, io *pb.IoRequest, err error, detached bool) {
	l.end(sc, io, err, detached, true)
}

// sanitizes reports the IO kinds of a SANITIZE.
func sanitizes(k pb.IoKind) bool {
	return k == pb.IoKind_IO_KIND_SANITIZE_OVERWRITE || k == pb.IoKind_IO_KIND_SANITIZE_ERASE
}

// end is finish; token says whether io's device state (its token) ends now.
func (l *lunActor) end(sc actor.SenderContext, io *pb.IoRequest, err error, detached, token bool) {
	answer := func(t *pb.ScsiTask) {
		c := pb.CheckCondition(t.Itt, err)
		c.Detached = detached && (len(t.DataOut) > 0 || len(t.DataOutParts) > 0)
		if t.Flight&trace.FlightAborted != 0 {
			l.replyAborted(sc, t, c)
			return
		}
		l.reply(sc, t, c)
	}
	send := func(msg any) { sc.Send(l.self, msg) }
	if len(io.Parts) > 0 {
		for _, p := range io.Parts {
			answer(p.Task)
			if p.Untracked {
				l.locks.untracked.done(send, &writesDrained{})
			}
			l.order.done(send)
		}
		return
	}
	if !io.Immediate {
		answer(io.Task)
	}
	if io.Token != 0 && token {
		l.cfg.Device.IODone(io.Token, err)
		l.reservationSaved(sc, io, false)
	}
	if backgroundSave(io) {
		l.resaveEnded(sc, io, err) // failed, unless abandoned (mayLand)
	}
	if io.Untracked {
		l.locks.untracked.done(send, &writesDrained{})
	}
	if io.LockId != 0 {
		l.handOn(sc, l.locks.release(io.LockId)...)
	}
	l.order.doneIO(io.Immediate, send)
}

// span is the byte range io writes: its lock's, or one computed as the device
// model does; a copy (which may write elsewhere too) fences the whole LUN.
func (l *lunActor) span(io *pb.IoRequest) scsidev.Extent {
	if h, ok := l.locks.active[io.LockId]; ok && io.LockId != 0 {
		return h.span
	}
	switch io.Kind {
	case pb.IoKind_IO_KIND_UNMAP:
		x := scsidev.IO{Kind: io.Kind}
		for i := 0; i+1 < len(io.Extents); i += 2 {
			x.Extents = append(x.Extents, scsidev.Extent{Offset: io.Extents[i], Length: io.Extents[i+1]})
		}
		return x.Span()
	case pb.IoKind_IO_KIND_COPY, pb.IoKind_IO_KIND_SANITIZE_OVERWRITE, pb.IoKind_IO_KIND_SANITIZE_ERASE:
		return scsidev.Extent{Offset: 0, Length: math.MaxInt64}
	}
	return scsidev.Extent{Offset: io.Offset, Length: io.Length}
}

// itts names io's tasks for a log line.
func itts(io *pb.IoRequest) any {
	if len(io.Parts) == 0 {
		if io.Task == nil {
			return nil
		}
		return io.Task.Itt
	}
	ids := make([]uint32, len(io.Parts))
	for i, p := range io.Parts {
		ids[i] = p.Task.Itt
	}
	return ids
}
