package lun

import (
	"slices"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"

	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/scsi"
)

// handOffFault, set only by tests, runs as the LUN hands an IO to the workers
// (toWorker), before any worker can have it, or a copy to its copier (startCopy),
// before the copier exists: a panic there is a failure of the LUN actor between
// the device model's planning (executing already cleared) and the IO reaching
// the one that ends it.
var handOffFault atomic.Pointer[func(io *pb.IoRequest)]

// Between the moment execute counts an IO for the workers (the device model
// has planned it, and taken a reservation change with it) and the moment the
// IO is with them, or waits for a range lock or in the merge run, nothing else
// holds it: were the actor to fail there, the task would never be answered,
// its count never released (ORDERED tasks would wait for it for ever), the
// device model would wait for its token for ever, and a reservation change's
// save would never end, leaving its barrier up (prsave.go): every later task
// of the LUN would hang. So the LUN keeps it as handing until then, and the
// recovery (recover.go) ends it as a failed IO would end: CHECK CONDITION,
// HARDWARE ERROR, INTERNAL TARGET FAILURE, its token failed (a reservation
// change is undone, as for a failed save), its counts and lock released.

// The same holds for IO handed to the workers from a list the LUN took out of
// its state before handing each on: the writes a released range lock or fence lets
// run, the merge run, what a fence or a detach kept of the queue. Taken out of the
// lock's queue (and holding a lock), the run or the shared queue, they are with no
// one until toWorker has them: handOn keeps them as handing until then.

// handOn hands ios to the workers in order, keeping each as handing until toWorker
// has it.
func (l *lunActor) handOn(sc actor.SenderContext, ios ...*pb.IoRequest) {
	if len(ios) == 0 {
		return
	}
	l.handing = append(l.handing, ios...)
	for _, io := range ios {
		l.toWorker(sc, io)
	}
}

// handedOn notes that io is handed on: a failure of the actor no longer ends it.
func (l *lunActor) handedOn(io *pb.IoRequest) {
	for i := len(l.handing) - 1; i >= 0; i-- {
		if l.handing[i] == io {
			l.handing = slices.Delete(l.handing, i, i+1)
			return
		}
	}
}

// endHanding ends the IO in hand, if any, as failed, after a failure of the
// actor; it returns their tasks (a merged run's: its parts'), which the recovery
// must not answer again.
func (l *lunActor) endHanding(sc actor.SenderContext) (answered []*pb.ScsiTask) {
	ios := l.handing
	l.handing = nil
	for _, io := range ios {
		if len(io.Parts) == 0 {
			answered = append(answered, io.Task)
		}
		for _, p := range io.Parts {
			answered = append(answered, p.Task)
		}
	}
	for _, io := range ios {
		l.endHanded(sc, io)
	}
	return answered
}

// endHanded ends one IO endHanding found in hand.
func (l *lunActor) endHanded(sc actor.SenderContext, io *pb.IoRequest) {
	defer func() { _ = recover() }() // a second failure here must not end the actor
	l.cfg.Log.Warn("LUN actor failed before an IO reached a worker; answering it CHECK CONDITION",
		"target", l.cfg.Target, "lun", l.cfg.ID, "itt", itts(io), "op", io.Kind.String())
	l.finish(sc, io, scsi.InternalTargetFailure(), false)
}
