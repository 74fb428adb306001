package lun

import (
	"github.com/asynkron/protoactor-go/actor"

	"github.com/atgt/atgt/actors/scsidev"
	pb "github.com/atgt/atgt/messages/atgtv1"
)

// A fence (rangelock.go) stops the writes that are admitted after it. The writes
// admitted before it that have not started yet, waiting in the workers' queue or in
// the run held for merging, are held back too when it goes up (holdBack), and so are
// a write retried after its worker failed (redispatch) and the queued writes a task
// management function's detach puts back after abandoning calls (dispatchUnfenced).
// Only reads are handed straight to an idle worker (toWorker), so no write waits in
// a worker's mailbox where a fence could not reach it. Otherwise such a write could
// start while the abandoned call is still in the kernel, be acknowledged, and then be
// overwritten when that call lands. Only a write already inside another backend call
// when the fence goes up can still race it; the initiator sent the two at the same
// time, and SCSI orders overlapping SIMPLE writes in no way.

// holdBack moves the writes overlapping span that have not started behind the
// fences; every other waiting IO keeps its place in the queue.
func (l *lunActor) holdBack(ctx actor.Context, span scsidev.Extent) {
	l.flush(ctx) // the held run joins the queue first
	p := l.pool
	behind := func(io *pb.IoRequest) bool { return overlaps(l.span(io), span) }
	var keep, back []*pb.IoRequest
	for io := p.sh.q.take(); io != nil; io = p.sh.q.take() {
		keep, back = l.sortBehind(io, behind, keep, back)
	}
	over := p.overflow
	p.overflow = nil
	for _, io := range over {
		keep, back = l.sortBehind(io, behind, keep, back)
	}
	l.locks.requeue(back, l.span, func(msg any) { ctx.Send(l.self, msg) })
	l.handOn(ctx, keep...)
}

// redispatch gives io, which had been admitted and now runs again (a retry after
// its worker failed), to a worker, unless it is a write a fence now covers: then it
// waits behind the fence.
func (l *lunActor) redispatch(sc actor.SenderContext, io *pb.IoRequest) { l.dispatchUnfenced(sc, io) }

// dispatchUnfenced gives ios to the workers in order, except the writes a fence now
// covers, which wait behind it. It is how IO that was admitted before a fence and
// taken out of the queue goes back: a retry after a worker failed, and what detach
// kept of the queue while it abandoned calls (holdBack, run by each abandon, found
// the queue empty then).
func (l *lunActor) dispatchUnfenced(sc actor.SenderContext, ios ...*pb.IoRequest) {
	fenced := func(io *pb.IoRequest) bool { return l.locks.fenced(l.span(io)) }
	var keep, back []*pb.IoRequest
	for _, io := range ios {
		keep, back = l.sortBehind(io, fenced, keep, back)
	}
	l.locks.requeue(back, l.span, func(msg any) { sc.Send(l.self, msg) })
	l.handOn(sc, keep...)
}

// sortBehind appends io to back if it is a write that behind says must wait, else
// to keep. A merged run with such a part goes on as its parts, sorted one by one.
func (l *lunActor) sortBehind(io *pb.IoRequest, behind func(*pb.IoRequest) bool, keep, back []*pb.IoRequest) (
	[]*pb.IoRequest, []*pb.IoRequest) {
	wait := func(io *pb.IoRequest) bool { return io.Kind.Writes() && behind(io) }
	if len(io.Parts) == 0 {
		if wait(io) {
			return keep, append(back, io)
		}
		return append(keep, io), back
	}
	split := false
	for _, part := range io.Parts {
		split = split || wait(part)
	}
	if !split {
		return append(keep, io), back
	}
	for _, part := range io.Parts {
		keep, back = l.sortBehind(part, behind, keep, back)
	}
	return keep, back
}
