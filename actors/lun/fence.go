package lun

import (
	"github.com/asynkron/protoactor-go/actor"

	"github.com/atgt/atgt/actors/scsidev"
	pb "github.com/atgt/atgt/messages/atgtv1"
)

// A fence (rangelock.go) stops the writes that are admitted after it. The writes
// admitted before it that have not started yet, waiting in the workers' queue or in
// the run held for merging, are held back too when it goes up (holdBack), and so is
// a write retried after its worker failed (redispatch): otherwise such a write could
// start while the abandoned call is still in the kernel, be acknowledged, and then be
// overwritten when that call lands. Only a write already inside another backend call
// when the fence goes up can still race it; the initiator sent the two at the same
// time, and SCSI orders overlapping SIMPLE writes in no way.

// holdBack moves the writes overlapping span that have not started behind the
// fences; every other waiting IO keeps its place in the queue.
func (l *lunActor) holdBack(ctx actor.Context, span scsidev.Extent) {
	l.flush(ctx) // the held run joins the queue first
	p := l.pool
	var keep, back []*pb.IoRequest
	behind := func(io *pb.IoRequest) bool { return io.Kind.Writes() && overlaps(l.span(io), span) }
	sift := func(io *pb.IoRequest) {
		if len(io.Parts) == 0 {
			if behind(io) {
				back = append(back, io)
			} else {
				keep = append(keep, io)
			}
			return
		}
		for _, part := range io.Parts {
			if behind(part) {
				// A merged run goes on as its parts, the overlapping ones held back.
				for _, q := range io.Parts {
					if behind(q) {
						back = append(back, q)
					} else {
						keep = append(keep, q)
					}
				}
				return
			}
		}
		keep = append(keep, io)
	}
	for io := p.sh.q.take(); io != nil; io = p.sh.q.take() {
		sift(io)
	}
	over := p.overflow
	p.overflow = nil
	for _, io := range over {
		sift(io)
	}
	send := func(msg any) { ctx.Send(l.self, msg) }
	l.locks.requeue(back, l.span, send)
	for _, io := range keep {
		l.toWorker(ctx, io)
	}
}

// redispatch gives io, which had been admitted and now runs again (a retry after
// its worker failed), to a worker, unless it is a write a fence now covers: then it
// waits behind the fence.
func (l *lunActor) redispatch(sc actor.SenderContext, io *pb.IoRequest) {
	if len(io.Parts) == 0 && io.Kind.Writes() && l.locks.fenced(l.span(io)) {
		l.locks.requeue([]*pb.IoRequest{io}, l.span, func(msg any) { sc.Send(l.self, msg) })
		return
	}
	if len(io.Parts) > 0 && io.Kind.Writes() {
		for _, part := range io.Parts {
			if l.locks.fenced(l.span(part)) {
				for _, q := range io.Parts {
					l.redispatch(sc, q)
				}
				return
			}
		}
	}
	l.toWorker(sc, io)
}
