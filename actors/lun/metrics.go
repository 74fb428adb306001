package lun

import (
	"github.com/asynkron/protoactor-go/actor"

	"github.com/atgt/atgt/actors/metrics"
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/scsi"
)

// Counting for metrics (actors/metrics). The LUN actor stamps each task as it
// arrives and counts it in its own shard; whoever answers the task (the LUN actor,
// or the IO worker that did its IO, each in its own shard) counts the completion
// just before sending it. Every answer to a task goes through reply or complete, so
// tasks in flight (arrived minus completed) return to zero.

// arrive stamps and counts a task that reached the LUN actor.
func (l *lunActor) arrive(msg any) {
	if t, ok := msg.(*pb.ScsiTask); ok {
		t.ArrivedNanos = l.stats.Arrive()
	}
}

// reply counts c, the LUN actor's answer to t, and sends it.
func (l *lunActor) reply(sc actor.SenderContext, t *pb.ScsiTask, c *pb.ScsiCompletion) {
	if l.stats != nil {
		count(l.stats, t, c, 0, metrics.Now())
	}
	l.answered(t, c)
	sendAnswer(sc, t, c)
	l.ran(t)
}

// replyAborted sends c, the answer to t that task management ended (which the
// connection suppresses), counting it as aborted: not a command with a latency nor
// an error of the LUN. Off the data path (task management and its failures only).
func (l *lunActor) replyAborted(sc actor.SenderContext, t *pb.ScsiTask, c *pb.ScsiCompletion) {
	l.stats.Aborted()
	l.answered(t, c)
	sendAnswer(sc, t, c)
	l.ran(t)
}

// sendAnswer sends c to t's reply address. A task without one (an embedder's mistake
// the door refuses; a nil compare here) is dropped after it was counted, so that
// no counter or task order is left waiting on it.
func sendAnswer(sc actor.SenderContext, t *pb.ScsiTask, c *pb.ScsiCompletion) {
	if t.ReplyTo != nil {
		sc.Send(t.ReplyTo.PID(), c)
	}
}

// complete counts c, a worker's answer to the task of io, at now.
func complete(s *metrics.Shard, io *pb.IoRequest, c *pb.ScsiCompletion, now int64) {
	if s == nil {
		return
	}
	var freed int64
	if io.Kind == pb.IoKind_IO_KIND_UNMAP {
		for i := 1; i < len(io.Extents); i += 2 {
			freed += io.Extents[i]
		}
	}
	count(s, io.Task, c, freed, now)
}

// count records t's completion c. The bytes of a command that ended GOOD are what
// it moved: the data it read or wrote (its transfer length, or the Data-In of a
// command without one, at most the initiator's expected length), or for an UNMAP
// the bytes it deallocated (freed).
func count(s *metrics.Shard, t *pb.ScsiTask, c *pb.ScsiCompletion, freed int64, now int64) {
	kind := metrics.KindOf(t.Cdb)
	var n uint64
	if c.Status == scsi.StatusGood || c.Status == scsi.StatusConditionMet {
		if kind == metrics.KindUnmap {
			n = uint64(max(freed, 0))
		} else {
			moved := c.TransferLength
			if moved == 0 {
				moved = uint32(len(c.DataIn))
			}
			n = uint64(min(moved, t.ExpectedLength))
		}
	}
	s.Complete(kind, t.ArrivedNanos, now, uint8(c.Status), c.Sense, n)
}
