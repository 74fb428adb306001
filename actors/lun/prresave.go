package lun

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"

	pb "github.com/atgt/atgt/messages/atgtv1"
)

// The background re-save of the reservations (prsave.go) writes over a
// snapshot of a change that was undone, which the next start would otherwise
// load. If it fails, the file may still hold that change, so it stays due:
// the snapshots it was to write over go back to prLate and the LUN tries
// again after a backoff (resaveBackoff, doubling to resaveBackoffMax), or at
// once when a reservation change's save succeeds (the directory works
// again), until one is written. Each failure is logged at warn with the LUN
// and the path. A re-save that is abandoned (ioTimeout) is not retried on a
// timer, where each try would hang another worker in the same directory: its
// call's return brings the snapshots back (lateReturn), as for any abandoned
// save.

// resaveBackoff is the wait before the first retry of a failed re-save (a
// variable so that a test can lengthen it).
var resaveBackoff = time.Second

// resaveBackoffMax bounds the wait between retries.
const resaveBackoffMax = time.Minute

// resaveState is the LUN's background re-saves.
type resaveState struct {
	// covering holds, for each re-save with the workers, the snapshots it is
	// to write over: they are due again if it fails.
	covering map[*pb.IoRequest][][]byte
	// failures counts the re-saves that failed in a row; none is issued
	// before notBefore.
	failures  int
	notBefore time.Time
	timer     *time.Timer
	// gen numbers the timers armResave sets: a retry sent by one it replaced
	// (which had run already, its message in the mailbox) is stale, and must not
	// take the live timer for its own.
	gen uint64
	// stopped: the LUN is stopping; no timer is set any more.
	stopped bool
}

// resaveRetry wakes the LUN when a failed re-save's backoff ends; gen is its
// timer's (resaveState.gen).
type resaveRetry struct{ gen uint64 }

// backgroundSave reports a re-save: a reservation save answering no one. Its
// worker reports its end to the LUN (resaveEnded).
func backgroundSave(io *pb.IoRequest) bool {
	return io.Kind == pb.IoKind_IO_KIND_PERSIST_RESERVATIONS && io.Immediate
}

// mayLand is what io writes, or may have written, if io is a local
// reservation save, which its call may land after the LUN abandoned it: its
// snapshot, and, for a re-save, the ones it was to write over; else nil.
func (l *lunActor) mayLand(io *pb.IoRequest) [][]byte {
	if io.Kind != pb.IoKind_IO_KIND_PERSIST_RESERVATIONS || l.cfg.ClusterPR != nil ||
		l.cfg.StatePath == "" || io.Task == nil {
		return nil
	}
	covered := l.prResave.covering[io]
	delete(l.prResave.covering, io)
	return append(covered, io.Task.DataOut)
}

// resaveIfDue writes the table's snapshot again, in the background, if an
// abandoned save that returned, or a re-save that failed, may have left the
// state file disagreeing with the table. It waits while a change is unsaved,
// while the workers take no IO (toWorker would refuse it), and during a failed
// re-save's backoff: a later lateReturn, drained, save, resaveRetry or the end of
// a backend's reopen (reopened; it also ends a cut-off) calls it again.
func (l *lunActor) resaveIfDue(sc actor.SenderContext) {
	t := l.cfg.Reservations
	if len(l.prLate) == 0 || t == nil || t.Unsaved() || l.stalled() || l.reopen.active || l.contact.cut || l.prDoubt {
		return
	}
	r := &l.prResave
	if r.failures > 0 && time.Now().Before(r.notBefore) {
		return
	}
	data := t.Resave(l.prLate...)
	covered := l.prLate
	l.prLate = nil
	if data == nil {
		return
	}
	if r.failures == 0 {
		l.cfg.Log.Warn("an abandoned reservation save returned; saving the reservations as they stand again",
			"target", l.cfg.Target, "lun", l.cfg.ID, "path", l.cfg.StatePath)
	}
	io := l.ios.New()
	io.Kind, io.Immediate = pb.IoKind_IO_KIND_PERSIST_RESERVATIONS, true
	io.Task = &pb.ScsiTask{DataOut: data}
	if r.covering == nil {
		r.covering = map[*pb.IoRequest][][]byte{}
	}
	r.covering[io] = covered
	l.order.background.add()
	l.handOn(sc, io)
}

// resaveEnded takes the end of a re-save (err nil: written); a failed one is
// due again after a backoff. A re-save the LUN abandoned is not covered any
// more (mayLand) and ends nothing here.
func (l *lunActor) resaveEnded(sc actor.SenderContext, io *pb.IoRequest, err error) {
	r := &l.prResave
	covered, ok := r.covering[io]
	if !ok {
		return
	}
	delete(r.covering, io)
	if err == nil {
		if r.failures > 0 {
			l.cfg.Log.Warn("the reservations were saved again after failed tries", "target", l.cfg.Target,
				"lun", l.cfg.ID, "path", l.cfg.StatePath, "failures", r.failures)
			r.failures = 0
		}
		return
	}
	l.prLate = append(l.prLate, covered...)
	r.failures++
	wait := resaveWait(r.failures)
	r.notBefore = time.Now().Add(wait)
	l.cfg.Log.Warn("saving the reservations again failed; the state file may hold a change that was undone, which a restart would load; retrying",
		"target", l.cfg.Target, "lun", l.cfg.ID, "path", l.cfg.StatePath, "error", err, "failures", r.failures, "retryIn", wait)
	l.armResave(sc, wait)
}

// resaveWait is the backoff after failures re-saves failed in a row: resaveBackoff,
// doubling with each further failure, at most resaveBackoffMax.
func resaveWait(failures int) time.Duration {
	wait := resaveBackoff
	for i := 1; i < failures && wait < resaveBackoffMax; i++ {
		wait *= 2
	}
	return min(wait, resaveBackoffMax)
}

// armResave has resaveRetry sent after wait, replacing a timer already set.
func (l *lunActor) armResave(sc actor.SenderContext, wait time.Duration) {
	r := &l.prResave
	if r.timer != nil {
		r.timer.Stop()
		r.timer = nil
	}
	r.gen++ // a retry the replaced timer sent already is stale
	if r.stopped {
		return // a report that came after Stopping: nothing is to wake
	}
	root, self, gen := sc.ActorSystem().Root, l.self, r.gen
	r.timer = time.AfterFunc(wait, func() { root.Send(self, &resaveRetry{gen: gen}) })
}

// retryResave runs when a failed re-save's backoff ended. The re-save goes if
// the LUN can take it; if not (it is reopening its backend, cut off, stalled, or
// a change is unsaved) the timer is set again, once more the longest backoff at
// most, since an idle LUN has no other turn that would try it. A retry from a
// timer replaced since is stale: the live timer brings its own.
func (l *lunActor) retryResave(sc actor.SenderContext, m *resaveRetry) {
	r := &l.prResave
	if m.gen != r.gen {
		return
	}
	r.timer = nil
	l.resaveIfDue(sc)
	if len(l.prLate) > 0 && r.timer == nil && len(r.covering) == 0 {
		l.armResave(sc, max(time.Until(r.notBefore), resaveWait(r.failures)))
	}
}

// saveWorked lets a due re-save go at once: a reservation change's save was
// just written, so the state directory works again.
func (l *lunActor) saveWorked() { l.prResave.notBefore = time.Time{} }

// endResave stops a pending retry's timer as the LUN stops (stopping) or
// restarts.
func (l *lunActor) endResave(stopping bool) {
	if t := l.prResave.timer; t != nil {
		t.Stop()
		l.prResave.timer = nil
	}
	l.prResave.stopped = l.prResave.stopped || stopping
}
