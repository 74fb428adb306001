package lun

import (
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/atgt/atgt/actors/trace"

	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/scsi"
)

// A failure of the LUN actor itself (a panic while it handles a message) never
// reaches protoactor, whose restart would stop the IO workers and drop the IO they
// hold, and would leave the task counters, which live in the props, counting tasks
// no one will finish. The actor recovers in place, keeping its PID, so the routing
// table stays valid:
//   - the message in hand is answered: a task with CHECK CONDITION, HARDWARE ERROR,
//     INTERNAL TARGET FAILURE; a task management function with FUNCTION REJECTED;
//     a worker's report is applied again (its range lock released), so no task waits
//     for it;
//   - the device model (mode pages, unit attentions, ALUA states) is rebuilt
//     from the config and the saved mode pages, and every initiator gets a unit
//     attention POWER ON, RESET, OR BUS DEVICE RESET OCCURRED, as after a reset;
//   - but what the device model holds about IO still in flight it takes over from
//     the old one (scsidev.Device.TakePending): the IO it waits for, keyed by the
//     tokens the workers report back with, and the token counter, so that an IO
//     that ends after the rebuild settles itself and never one planned since; the
//     status of the copies still running; a SANITIZE in progress, which a reset
//     does not end (SBC-4 4.11.1), or failed, whose failure mode only a SANITIZE
//     ends; the mode save sequence. Like the locks below, these describe IO really
//     in flight, which the config cannot tell. The IO the device model planned for
//     the task in hand never reaches a worker: what waits for it ends
//     (scsidev.Device.AbandonPlanned), as it must also when the model is kept;
//   - the reservations are kept: the table is pure data the device model does not
//     own, and rebuilding it from the APTPL file would drop every registration and
//     reservation made with APTPL=0 (fence_scsi's default) and so unfence a fenced
//     node. If the panic struck inside a reservation command, the table goes back
//     to its state before that command, which is answered CHECK CONDITION
//     (reservation.Table.Recovered); so it does if the panic struck after the
//     command changed the table but before its APTPL save was handed to a worker
//     (reservation.Table.Saved): while the device model has the task in hand, or
//     once the save is counted as the workers' but before it is with them, when
//     it ends as a failed save (handing.go), releasing its barrier. A cluster
//     LUN takes the store's newest state.
//     Since the table is not reread from the file, an APTPL snapshot still being
//     written lands in a file that agrees with it;
//   - the IO the workers hold, and the tasks waiting for them, go on under the
//     same ordering and range locks: those describe IO really in flight, which a
//     rebuild cannot know better.
//
// A LUN that fails offlineFailures times within offlineWindow goes offline: it
// answers every new command NOT READY, LOGICAL UNIT FAILURE (3E/01), logging at
// warn, and lets the IO in flight finish.
const (
	offlineFailures = 5
	offlineWindow   = 60 * time.Second
	// refusedLogEvery bounds the warn lines of an offline LUN.
	refusedLogEvery = 10 * time.Second
)

// recoverPanic is deferred by Receive.
func (l *lunActor) recoverPanic(ctx actor.Context) {
	r := recover()
	if r == nil {
		return
	}
	now := time.Now()
	recent := l.failures[:0]
	for _, t := range l.failures {
		if now.Sub(t) < offlineWindow {
			recent = append(recent, t)
		}
	}
	l.failures = append(recent, now)
	log := l.cfg.Log.With("target", l.cfg.Target, "lun", l.cfg.ID, "panic", r, "failures", len(l.failures))
	// A task in hand was not handed to a worker: a reservation change it made
	// waits for a save that will never be written (prsave.go).
	inHand := l.executing != nil
	// An IO counted but not yet with a worker ends as a failed one: a
	// reservation change's save fails, its change undone (handing.go).
	ended := l.endHanding(ctx)
	l.answerInHand(ctx, ctx.Message(), ended)
	old := l.cfg.Device
	if inHand {
		// Its IO, if the device model planned one, never reaches a worker.
		old.AbandonPlanned()
	}
	ctx.Send(ctx.Self(), &repump{})
	if len(l.failures) >= offlineFailures {
		l.offline = true
		l.cfg.Metrics.SetOnline(false) // atgt_lun_online, atgtctl luns
		log.Warn("LUN actor failed too often; the LUN is offline (NOT READY, LOGICAL UNIT FAILURE)",
			"window", offlineWindow)
		return
	}
	kept := l.cfg.Reservations
	if l.cfg.Rebuild != nil {
		dev, rt, err := l.cfg.Rebuild()
		if err != nil {
			l.offline = true
			l.cfg.Metrics.SetOnline(false) // atgt_lun_online, atgtctl luns
			log.Warn("LUN actor failed and its state could not be rebuilt; the LUN is offline", "error", err)
			return
		}
		dev.TakePending(old)
		l.cfg.Device, l.cfg.Reservations = dev, rt
		l.doorRebuilt(ctx, old)
		l.attachProgress()
		if l.cfg.ClusterPR == nil && kept != nil {
			l.cfg.Reservations = kept
		}
		if a := l.cfg.ALUA; a != nil && a.Owner != nil {
			// A new device starts every group active/optimized; the states the
			// lock follower applied hold until the lock moves again.
			l.applyLock(l.follow.applied)
		}
	}
	if l.cfg.ClusterPR == nil && l.cfg.Reservations != nil {
		var back bool
		if l.cfg.Reservations, back = l.cfg.Reservations.Recovered(); back {
			log.Warn("LUN actor failed inside a reservation command; the reservations are as before it")
		} else if inHand && l.cfg.Reservations.Unsaved() {
			l.cfg.Reservations.Saved(false)
			log.Warn("LUN actor failed before a reservation change was saved; the reservations are as before it")
		}
	}
	l.cfg.Device.AddUnitAttention("", scsi.PowerOnReset())
	log.Warn("LUN actor failed; its device model was rebuilt from the config and the saved files")
}

// answerInHand answers what the actor failed on: the task the device model had in
// hand, which may be one that waited in the task set rather than the message (a
// task run by pump), and the message itself, unless it is a task still waiting in
// the task set, which runs in its turn (repump), a task of the IO endHanding
// ended (ended), or one the turn already answered or ran (pending).
func (l *lunActor) answerInHand(ctx actor.Context, msg any, ended []*pb.ScsiTask) {
	defer func() { _ = recover() }() // a second failure here must not end the actor
	if t := l.executing; t != nil {
		l.executing = nil
		l.failTask(ctx, t)
		if t == msg {
			return
		}
	}
	switch m := msg.(type) {
	case *pb.ScsiTask:
		if m != l.pending || slices.Contains(ended, m) {
			return // answered, or run (with a worker, or ended by endHanding)
		}
		for _, q := range l.order.queue {
			if q == m {
				return
			}
		}
		l.failTask(ctx, m)
	case *pb.TaskManagement:
		ctx.Send(m.ReplyTo.PID(), &pb.TaskManagementDone{Itt: m.Itt, FanOut: m.FanOut, Response: tmfRejected})
	case *pb.IoRequest:
		if m.LockId != 0 {
			l.handOn(ctx, l.locks.release(m.LockId)...)
		}
	case *copyDone:
		if rc := l.copies[m.io.Task]; rc != nil && rc.io == m.io {
			delete(l.copies, m.io.Task)
			l.finish(ctx, m.io, scsi.InternalTargetFailure(), false)
		}
	}
}

// failTask answers t CHECK CONDITION, HARDWARE ERROR, INTERNAL TARGET FAILURE.
func (l *lunActor) failTask(ctx actor.Context, t *pb.ScsiTask) {
	l.cfg.Log.Warn("task failed in the LUN actor", "target", l.cfg.Target, "lun", l.cfg.ID, "itt", t.Itt)
	if t.TraceId != 0 {
		l.hop(t, trace.HopFault, nil, "", "LUN actor failed")
	}
	l.reply(ctx, t, pb.CheckCondition(t.Itt, scsi.InternalTargetFailure()))
}

// repump asks the recovered actor to run the task set's waiting tasks, which the
// failed turn may have left with nothing to start them.
type repump struct{}

// repump runs the waiting tasks, or, once the LUN is offline, answers them as it
// answers new ones.
func (l *lunActor) repump(ctx actor.Context) {
	if !l.offline {
		l.pump(ctx)
		return
	}
	for _, t := range l.order.queue {
		l.reply(ctx, t, pb.CheckCondition(t.Itt, scsi.LogicalUnitFailure()))
	}
	clear(l.order.queue)
	l.order.queue = l.order.queue[:0]
}

// tmfRejected is the TMF response FUNCTION REJECTED (RFC 7143 11.6.1).
const tmfRejected = 255

// refuseOffline answers a command an offline LUN receives and reports whether it did;
// everything else (workers' reports, task management, nexus loss) is handled as
// usual, so that the IO in flight ends cleanly.
func (l *lunActor) refuseOffline(ctx actor.Context) bool {
	t, ok := ctx.Message().(*pb.ScsiTask)
	if !ok {
		return false
	}
	l.reply(ctx, t, pb.CheckCondition(t.Itt, scsi.LogicalUnitFailure()))
	if n, ok := l.refusals.note(); ok {
		l.cfg.Log.Warn("offline LUN refused commands (NOT READY, LOGICAL UNIT FAILURE)", "target", l.cfg.Target,
			"lun", l.cfg.ID, "commands", n, "itt", t.Itt)
	}
	return true
}

// refusals counts the commands a LUN that serves no IO refuses (offline, or its
// store missing: missing.go), so that it logs them at most every refusedLogEvery.
type refusals struct {
	n  int
	at time.Time
}

// note counts a refusal; it reports whether to log one now, and how many were
// refused since the last line.
func (r *refusals) note() (int, bool) {
	r.n++
	now := time.Now()
	if now.Sub(r.at) < refusedLogEvery {
		return 0, false
	}
	n := r.n
	r.n, r.at = 0, now
	return n, true
}
