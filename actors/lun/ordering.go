package lun

import (
	"github.com/asynkron/protoactor-go/actor"

	pb "github.com/atgt/atgt/messages/atgtv1"
)

// taskOrder applies SAM-5 task attributes to the LUN's task set (SAM-5 8.6): a SIMPLE
// task runs at once; an ORDERED task waits until every task before it has completed,
// and every later task (but HEAD OF QUEUE) waits until it has; a HEAD OF QUEUE task
// runs at once. Tasks without IO finish inside the LUN actor, so only the tasks with
// the IO workers need counting: inflight is shared with the workers, which uncount
// tasks as they answer and, when the LUN waits for zero, send it a drained message.
type taskOrder struct {
	inflight drainCounter
	barrier  bool // an ORDERED task is with the workers
	queue    []*pb.ScsiTask
}

// drained tells the LUN actor that the workers hold no task.
type drained struct{}

// done is called by a worker (or the supervisor for a failed one) after answering a
// task: the last task out wakes a waiting LUN.
func (o *taskOrder) done(send func(msg any)) { o.inflight.done(send, &drained{}) }

// idle reports whether the workers hold no task; if they do, the LUN is woken by a
// drained message once they do not.
func (o *taskOrder) idle() bool { return o.inflight.idle() }

// submit runs or queues a task by its attribute.
func (l *lunActor) submit(ctx actor.Context, t *pb.ScsiTask) {
	o := l.order
	if t.Attribute == pb.TaskAttribute_TASK_ATTRIBUTE_HEAD_OF_QUEUE ||
		(len(o.queue) == 0 && !o.barrier && t.Attribute != pb.TaskAttribute_TASK_ATTRIBUTE_ORDERED) {
		l.execute(ctx, t)
		return
	}
	o.queue = append(o.queue, t)
	l.pump(ctx)
}

// pump runs queued tasks until an ORDERED task has to wait for the workers.
func (l *lunActor) pump(ctx actor.Context) {
	o := l.order
	for {
		if o.barrier {
			if !o.idle() {
				return
			}
			o.barrier = false
		}
		if len(o.queue) == 0 {
			return
		}
		t := o.queue[0]
		ordered := t.Attribute == pb.TaskAttribute_TASK_ATTRIBUTE_ORDERED
		if ordered && !o.idle() {
			return
		}
		o.queue = o.queue[1:]
		before := l.dispatched
		l.execute(ctx, t)
		if ordered && l.dispatched != before {
			o.barrier = true
		}
	}
}
