package lun

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/atgt/atgt/actors/prcluster"
	"github.com/atgt/atgt/actors/reservation"
	"github.com/atgt/atgt/actors/scsidev"
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/scsi"
)

// Persistent reservations kept in a cluster store (actors/prcluster), for a
// logical unit that several atgt nodes export. The LUN actor owns its cached
// copy of the shared state as it owns a local table: the store's goroutines
// only send it messages. A PERSISTENT RESERVE OUT goes to the store, which
// answers with a prAnswer once the change is stored and every node has
// taken it; every change, this node's own included, comes back as a
// prcluster.Update that the LUN installs, raising the unit attentions of its
// own nexuses and acknowledging once the commands admitted under the old
// state have finished (fence).

// While the store says this node's view is in doubt (it may have missed a
// change: prcluster's lease.go), every command that may touch the medium is
// answered NOT READY, whatever the cache says: on a gateway of several port
// groups, TARGET PORT IN UNAVAILABLE STATE with its group shown unavailable, so
// that initiators go through another gateway at once (unavailable.go); without
// port groups, LOGICAL UNIT IS IN PROCESS OF BECOMING READY, which initiators
// retry. The same answer goes to a command whose lease has run out by the
// clock, before the store's message says so (lease.go), and to the IO admitted
// before the doubt that no worker has started (answerWaiting). In execute the
// check costs a LUN without a gate one nil check; with a store, see lease.go.

// refuseInDoubt answers t NOT READY while this node's view of the shared
// state is in doubt or its lease has run out by the clock, and reports
// whether it did. l.gate is not nil.
func (l *lunActor) refuseInDoubt(ctx actor.Context, t *pb.ScsiTask) bool {
	var se *scsi.SenseError
	switch {
	case l.prDoubt:
		se = l.refusal(t.Cdb)
	case l.gate.lapsed():
		se = l.doubtRefusal(t.Cdb)
	}
	if se == nil {
		return false
	}
	l.reply(ctx, t, pb.CheckCondition(t.Itt, se))
	return true
}

// doubtRefusal is refusal's answer to cdb as if this node were in doubt.
func (l *lunActor) doubtRefusal(cdb []byte) *scsi.SenseError {
	switch {
	case len(cdb) == 0:
		return nil
	case l.gate.answer == errUnavailable:
		if scsidev.RunsWhenUnavailable(cdb) {
			return nil
		}
	case runsWhenStalled(cdb):
		return nil
	}
	return l.gate.answer
}

// setDoubt records whether this node may not serve because of the shared
// reservations or the cluster's reach (prDoubt, contact.cut) for the workers,
// and, when it begins, answers the IO admitted before that has not started.
func (l *lunActor) setDoubt(ctx actor.Context) {
	if l.gate == nil {
		return
	}
	doubt := l.prDoubt || l.contact.cut
	if l.gate.doubt.Swap(doubt) || !doubt {
		return
	}
	l.answerWaiting(ctx)
}

// answerWaiting answers NOT READY (notReadyError) the IO admitted before this
// node stopped serving that no worker has taken: the run held for merging, the
// workers' queue and the overflow. IO waiting for a range lock or a fence
// meets the same answer in toWorker; IO handed to an idle worker, the worker's
// gate. What is in a backend call goes on.
func (l *lunActor) answerWaiting(ctx actor.Context) {
	if l.pool == nil {
		return
	}
	l.flush(ctx)
	p := l.pool
	var ios []*pb.IoRequest
	for io := p.sh.q.take(); io != nil; io = p.sh.q.take() {
		ios = append(ios, io)
	}
	ios = append(ios, p.overflow...)
	clear(p.overflow)
	p.overflow = p.overflow[:0]
	for _, io := range ios {
		l.finish(ctx, io, l.notReadyError(), false)
	}
}

// prAnswer is the store's outcome of a PERSISTENT RESERVE OUT.
type prAnswer struct {
	task *pb.ScsiTask
	out  reservation.Outcome
}

// attachCluster has the store send its updates to this actor.
func (l *lunActor) attachCluster(ctx actor.Context) {
	if l.cfg.ClusterPR == nil {
		return
	}
	root, self, gate := ctx.ActorSystem().Root, ctx.Self(), l.gate
	l.cfg.ClusterPR.Attach(func(msg any) {
		if u, ok := msg.(*prcluster.Update); ok {
			gate.sent(u) // before the LUN can have it
		}
		root.Send(self, msg)
	})
}

// clusterPROUT hands t, a command that changes reservations (PERSISTENT
// RESERVE OUT, RESERVE, RELEASE) and passed the LUN's checks, to the store;
// the store's goroutine answers with a prAnswer.
func (l *lunActor) clusterPROUT(ctx actor.Context, t *pb.ScsiTask) {
	root, self := ctx.ActorSystem().Root, ctx.Self()
	n := reservation.Nexus{ID: t.Nexus, RelativeTargetPort: l.cfg.ClusterPR.Port()}
	// The store's goroutine gets copies: the task's buffers belong to its
	// connection.
	cdb, param := append([]byte(nil), t.Cdb...), append([]byte(nil), t.DataOut...)
	l.cfg.ClusterPR.Submit(n, cdb, param, func(out reservation.Outcome) {
		root.Send(self, &prAnswer{task: t, out: out})
	})
}

// prAnswered answers the PERSISTENT RESERVE OUT of a.
func (l *lunActor) prAnswered(ctx actor.Context, a *prAnswer) {
	l.reply(ctx, a.task, &pb.ScsiCompletion{Itt: a.task.Itt, Status: uint32(a.out.Status), Sense: a.out.Sense,
		DataIn: a.out.Data, TransferLength: uint32(len(a.out.Data))})
}

// applyUpdate installs a newer shared state as the cache, raises the unit
// attentions for this node's nexuses, and fences: new commands wait until the
// workers have finished every command admitted under the old state, and then
// the change is acknowledged (pump).
func (l *lunActor) applyUpdate(ctx actor.Context, u *prcluster.Update) {
	if l.gate != nil {
		defer l.gate.applied(u.Seq())
	}
	if u.Seq() > l.prSeq {
		if u.Doubt != l.prDoubt {
			l.cfg.Log.Warn("cluster reservations: this node's view is in doubt; commands answered NOT READY until it is reread",
				"target", l.cfg.Target, "lun", l.cfg.ID, "doubt", u.Doubt)
		}
		l.prSeq, l.prDoubt = u.Seq(), u.Doubt
		l.showAvailability()
		l.setDoubt(ctx)
	}
	if u.Table == nil && len(u.UAs) == 0 {
		if len(l.order.fences) > 0 {
			// It may carry the acknowledgements of notifications held until
			// a reread (one this node could not decode): their change may be
			// the one the current fence is for, which an earlier reread
			// brought. They go with that fence.
			l.order.fences = append(l.order.fences, u)
		} else {
			u.Ack() // nothing the commands in flight were admitted under changed
		}
		l.pump(ctx)
		return
	}
	if u.Table != nil && (l.cfg.Reservations == nil || u.Table.Epoch() > l.cfg.Reservations.Epoch()) {
		l.cfg.Reservations = u.Table
	}
	for _, ua := range u.UAs {
		l.cfg.Device.AddUnitAttention(ua.Nexus, ua.Sense)
	}
	if len(l.order.fences) == 0 {
		// The writer stops waiting after NotifyWait; holding new commands
		// longer (a backend call that never returns) would only stall
		// this node.
		l.order.fenceRound++
		root, self, round := ctx.ActorSystem().Root, ctx.Self(), l.order.fenceRound
		time.AfterFunc(l.cfg.ClusterPR.NotifyWait(), func() { root.Send(self, &fenceExpired{round: round}) })
	}
	l.order.fences = append(l.order.fences, u)
	l.pump(ctx)
}

// fenceExpired ends a fence that has held new commands for as long as the
// writer waits for it.
type fenceExpired struct{ round uint64 }

// expireFence acknowledges the updates of a fence that outlived the writer's
// wait and lets the commands behind it run.
func (l *lunActor) expireFence(ctx actor.Context, m *fenceExpired) {
	o := l.order
	if m.round != o.fenceRound || len(o.fences) == 0 {
		return
	}
	l.cfg.Log.Warn("reservation change acknowledged before the commands admitted earlier finished",
		"target", l.cfg.Target, "lun", l.cfg.ID, "after", l.cfg.ClusterPR.NotifyWait())
	for _, u := range o.fences {
		u.Ack()
	}
	o.fences = nil
	l.pump(ctx)
}

// fenced reports whether a fence still holds new commands back; once the
// workers are idle and every abandoned write has returned (watchdog.go: it
// may still land) it acknowledges the updates that were waiting.
func (l *lunActor) fenced() bool {
	o := l.order
	if len(o.fences) == 0 {
		return false
	}
	if l.abandonedWrites() || !o.idle() {
		return true // lateReturn or drained pumps again
	}
	for _, u := range o.fences {
		u.Ack()
	}
	o.fences = nil
	return false
}

// abandonedWrites reports whether a write call the watchdog or task management
// gave up on has not returned yet.
func (l *lunActor) abandonedWrites() bool {
	if l.pool == nil || l.pool.abandoned == 0 {
		return false
	}
	for _, s := range l.pool.byID {
		if s.dead && !s.returned && s.fence != 0 {
			return true
		}
	}
	return false
}

// clusterNexusLost releases the RESERVE(6)/(10) reservation of a lost nexus
// in the shared state. It is queued whatever the cache says: a RESERVE of the
// nexus may still be with the store, and the store runs requests in order,
// so the release comes after it (and writes nothing if nothing is held).
func (l *lunActor) clusterNexusLost(nexus string) {
	n := reservation.Nexus{ID: nexus, RelativeTargetPort: l.cfg.ClusterPR.Port()}
	l.cfg.ClusterPR.Do(func(t *reservation.Table) { t.NexusLost(n) }, nil)
}

// clusterReset releases a RESERVE(6)/(10) reservation in the shared state: a
// reset of the logical unit through any gateway ends it. The release is
// queued before any command that comes after the reset, and the reset is
// answered once every node has it (resetDone, announced).
func (l *lunActor) clusterReset() {
	ch := make(chan struct{})
	l.cfg.ClusterPR.Do(func(t *reservation.Table) { t.Reset() }, func(reservation.Outcome) { close(ch) })
	l.resetDone = ch
}

// resetWait bounds how long a reset's answer waits for the store to release
// a RESERVE(6)/(10) reservation everywhere: task management is answered in
// bounded time.
const resetWait = prcluster.NotifyTimeout

// takeResetDone returns a wait for the release the current task management
// function queued (clusterReset), or nil.
func (l *lunActor) takeResetDone() func() {
	ch := l.resetDone
	if ch == nil {
		return nil
	}
	l.resetDone = nil
	log, id := l.cfg.Log, l.cfg.ID
	return func() {
		select {
		case <-ch:
		case <-time.After(resetWait):
			log.Warn("reset answered before the shared reservation state released its RESERVE", "lun", id)
		}
	}
}
