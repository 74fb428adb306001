package lun

import (
	"testing"

	"github.com/asynkron/protoactor-go/actor"

	pb "github.com/atgt/atgt/messages/atgtv1"
)

// TestOnlyReadsHandedToIdleWorker: a large IO may skip the shared queue and go
// straight to an idle worker's mailbox, but only a read. A write there is out of
// reach of a fence raised before the worker takes it (holdBack looks at the queue,
// the overflow and the held run), so it could start while an overlapping abandoned
// call is still in the kernel, be acknowledged, and then be overwritten when that
// call lands (data-path review). A large write waits in the queue like any IO.
func TestOnlyReadsHandedToIdleWorker(t *testing.T) {
	sys := actor.NewActorSystem()
	l := &lunActor{pool: newPool(1, func(*shared, *slot) *actor.Props {
		return actor.PropsFromFunc(func(actor.Context) {}) // a worker that never takes IO
	})}
	s := l.pool.spawn(sys.Root, 0)
	for _, c := range []struct {
		kind   pb.IoKind
		handed bool
	}{
		{pb.IoKind_IO_KIND_WRITE, false},
		{pb.IoKind_IO_KIND_WRITE_SAME, false},
		{pb.IoKind_IO_KIND_READ, true},
	} {
		l.pool.sh.q = workQueue{}
		s.handed.Store(nil)
		l.pool.sh.idle.add(0)
		io := &pb.IoRequest{Kind: c.kind, Offset: 0, Length: 128 << 10}
		l.toWorker(sys.Root, io)
		if got := s.handed.Load() == io; got != c.handed {
			t.Errorf("%v of 128 KiB with an idle worker: handed to its mailbox %v, want %v", c.kind, got, c.handed)
		}
		if queued := l.pool.sh.q.take() == io; queued == c.handed {
			t.Errorf("%v of 128 KiB with an idle worker: in the shared queue %v, want %v", c.kind, queued, !c.handed)
		}
	}
}
