package lun

import (
	"github.com/asynkron/protoactor-go/actor"

	pb "github.com/atgt/atgt/messages/atgtv1"
)

// Merging adjacent IO. An initiator streaming sequential reads or writes at a queue
// depth sends many commands that follow one another on the medium, and they reach the
// LUN in bursts while its mailbox is busy. Each one alone costs a worker turn and a
// pread/pwrite; held back while more messages wait and sent as one IoRequest, a run
// of them costs one turn and one preadv/pwritev. Nothing waits for the merge: the run
// goes to a worker as soon as the mailbox is empty, a command does not continue it,
// or it is full. Every part keeps its own task, buffer and answer.

const (
	maxMergeParts = 64
	// Only small IOs merge, into runs of moderate size: for large ones the saved
	// system calls matter little, while spreading them over the workers lets
	// their copies run in parallel and their answers go out sooner.
	maxMergePart  = 32 << 10
	maxMergeBytes = 256 << 10
)

// mergeable reports IO that may join a run: a READ, or a cached (not FUA, WCE on)
// plain WRITE that holds no range lock; nothing else tracks either.
func mergeable(io *pb.IoRequest) bool {
	if io.Immediate || io.Token != 0 || io.LockId != 0 || len(io.Parts) > 0 || io.Length > maxMergePart {
		return false
	}
	switch io.Kind {
	case pb.IoKind_IO_KIND_READ:
		return true
	case pb.IoKind_IO_KIND_WRITE:
		return io.Untracked && !io.Stable && len(io.Task.DataOutParts) == 0
	}
	return false
}

// ioRun is the run of adjacent reads or writes the LUN is holding back.
type ioRun struct {
	parts []*pb.IoRequest
	end   int64 // offset just past the last part
	bytes int64
}

// continues reports whether io starts where the run ends and fits in it.
func (r *ioRun) continues(io *pb.IoRequest) bool {
	return len(r.parts) > 0 && io.Kind == r.parts[0].Kind && io.Offset == r.end &&
		len(r.parts) < maxMergeParts && r.bytes+io.Length <= maxMergeBytes
}

// add appends io to the run.
func (r *ioRun) add(io *pb.IoRequest) {
	r.parts = append(r.parts, io)
	r.end = io.Offset + io.Length
	r.bytes += io.Length
}

// take returns the run as one request (the part itself for a run of one) and empties it.
func (r *ioRun) take() *pb.IoRequest {
	var io *pb.IoRequest
	switch len(r.parts) {
	case 0:
		return nil
	case 1:
		io = r.parts[0]
	default:
		first := r.parts[0]
		parts := make([]*pb.IoRequest, len(r.parts))
		copy(parts, r.parts)
		io = &pb.IoRequest{Kind: first.Kind, Offset: first.Offset, Length: r.bytes, Parts: parts,
			WriteBehind: r.parts[len(r.parts)-1].WriteBehind}
	}
	clear(r.parts)
	r.parts, r.bytes = r.parts[:0], 0
	return io
}

// hold keeps mergeable IO back while more messages wait in the mailbox, sending the
// run it cannot continue; other IO goes to a worker after the run.
func (l *lunActor) hold(ctx actor.Context, io *pb.IoRequest) {
	if !mergeable(io) {
		l.flush(ctx)
		l.toWorker(ctx, io)
		return
	}
	if len(l.run.parts) > 0 && !l.run.continues(io) {
		l.flush(ctx)
	}
	l.run.add(io)
}

// flush sends the held run to a worker.
func (l *lunActor) flush(ctx actor.Context) {
	if io := l.run.take(); io != nil {
		l.handOn(ctx, io) // out of the run: in hand until a worker has it
	}
}
