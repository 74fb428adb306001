package lun

import (
	"github.com/asynkron/protoactor-go/actor"

	"github.com/atgt/atgt/actors/prcluster"
	"github.com/atgt/atgt/actors/reservation"
	"github.com/atgt/atgt/actors/trace"
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/scsi"
)

// taskOrder applies SAM-5 task attributes to the LUN's task set (SAM-5 8.6): a SIMPLE
// task runs at once; an ORDERED task waits until every task before it has completed,
// and every later task (but HEAD OF QUEUE) waits until it has; a HEAD OF QUEUE task
// runs at once. Tasks without IO finish inside the LUN actor, so only the tasks with
// the IO workers need counting: inflight is shared with the workers, which uncount
// tasks as they answer and, when the LUN waits for zero, send it a drained message.
//
// A SANITIZE with IMMED is answered before its IO runs: from then on that IO is the
// logical unit's background work, not a task of the task set (SBC-4 4.11), so it is
// counted in background, which no ORDERED task waits for; the device model answers
// what a sanitize excludes NOT READY meanwhile. Drains and retirement wait for both.
type taskOrder struct {
	inflight   drainCounter
	background drainCounter
	// barrier: an ORDERED task, or a reservation change's APTPL save, is with the
	// workers (prsave.go).
	barrier bool
	queue   []*pb.ScsiTask
	// fences are cluster reservation changes waiting for the workers to
	// finish what was admitted before them (cluster.go): tasks queue behind.
	fences []*prcluster.Update
	// fenceRound numbers the fences, so that a fence's expiry finds its own.
	fenceRound uint64
}

// drained tells the LUN actor that the workers hold no task.
type drained struct{}

// done is called by a worker (or the supervisor for a failed one) after answering a
// task: the last task out wakes a waiting LUN.
func (o *taskOrder) done(send func(msg any)) { o.inflight.done(send, &drained{}) }

// doneIO uncounts an IO's task (done), or its background work if it was answered
// before it ran (Immediate).
func (o *taskOrder) doneIO(immediate bool, send func(msg any)) {
	if immediate {
		o.background.done(send, &drained{})
		return
	}
	o.done(send)
}

// idle reports whether the workers hold no task; if they do, the LUN is woken by a
// drained message once they do not.
func (o *taskOrder) idle() bool { return o.inflight.idle() }

// quiet is idle for the tasks and the background work together: nothing is with the
// workers. As idle, a drained message follows if it is not.
func (o *taskOrder) quiet() bool { return o.inflight.idle() && o.background.idle() }

// ordered reports whether t runs as an ORDERED task. PERSISTENT RESERVE OUT with
// PREEMPT AND ABORT always does, whatever its attribute: it waits until every task
// before it has completed, so that no command of a preempted nexus that was already
// in the task set (with an IO worker, waiting for a range lock, or held for merging)
// can reach the medium after the preemption is answered. Fencing (fence_scsi and
// cluster managers) relies on exactly that. Those tasks complete rather than being
// aborted, as if they had finished before the PREEMPT AND ABORT arrived.
func ordered(t *pb.ScsiTask) bool {
	if len(t.Cdb) > 1 && t.Cdb[0] == scsi.OpPersistentReserveOut && t.Cdb[1]&0x1f == reservation.SAPreemptAndAbort {
		return true
	}
	return t.Attribute == pb.TaskAttribute_TASK_ATTRIBUTE_ORDERED
}

// submit runs or queues a task by its attribute. While the LUN is stalled on
// abandoned calls, fenced or cut off, a command that needs the backend is answered
// NOT READY (refusal: 04/0C on a gateway, unavailable.go; 04/01 otherwise).
func (l *lunActor) submit(ctx actor.Context, t *pb.ScsiTask) {
	if l.stalled() || l.reopen.active || l.contact.cut {
		if se := l.refusal(t.Cdb); se != nil {
			l.reply(ctx, t, pb.CheckCondition(t.Itt, se))
			return
		}
	}
	o := l.order
	if !ordered(t) && ((t.Attribute == pb.TaskAttribute_TASK_ATTRIBUTE_HEAD_OF_QUEUE && !l.cfg.Reservations.Unsaved()) ||
		(len(o.queue) == 0 && !o.barrier && len(o.fences) == 0)) {
		l.execute(ctx, t)
		l.ran(t)
		return
	}
	t.Flight |= trace.FlightOrderWait
	if t.TraceId != 0 {
		l.hop(t, trace.HopOrderWait, nil, "", "")
	}
	o.queue = append(o.queue, t)
	if t.Attribute == pb.TaskAttribute_TASK_ATTRIBUTE_HEAD_OF_QUEUE && !ordered(t) {
		// Held only by a reservation change's save (prsave.go): it still goes
		// ahead of every task waiting but the HEAD OF QUEUE ones before it
		// (SAM-5 8.6), as it would have without the save. (A PREEMPT AND ABORT
		// runs as ORDERED whatever its attribute, behind every task before it.)
		i := 0
		for i < len(o.queue)-1 && o.queue[i].Attribute == pb.TaskAttribute_TASK_ATTRIBUTE_HEAD_OF_QUEUE {
			i++
		}
		copy(o.queue[i+1:], o.queue[i:len(o.queue)-1])
		o.queue[i] = t
	}
	l.pump(ctx)
}

// pump runs queued tasks until an ORDERED task has to wait for the workers.
func (l *lunActor) pump(ctx actor.Context) {
	o := l.order
	for {
		if l.fenced() {
			return
		}
		if o.barrier {
			// A reservation save's barrier holds until the LUN has read its
			// report (Saved), not merely until the worker uncounted it.
			if !o.idle() || l.cfg.Reservations.Unsaved() {
				return
			}
			o.barrier = false
		}
		if len(o.queue) == 0 {
			return
		}
		t := o.queue[0]
		barrier := ordered(t)
		if barrier && !o.idle() {
			return
		}
		o.queue[0] = nil // the backing array must not keep the task once it ran
		o.queue = o.queue[1:]
		before := l.dispatched
		l.execute(ctx, t)
		l.ran(t)
		if barrier && l.dispatched != before {
			o.barrier = true
		}
	}
}

// ran notes that execute ran t: answered, or handed on to the workers, a range
// lock or a copy, so that a later failure in the turn does not answer it again.
func (l *lunActor) ran(t *pb.ScsiTask) {
	if t == l.pending {
		l.pending = nil
	}
}
