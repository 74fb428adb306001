package lun

import (
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/atgt/atgt/actors/gateway"
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/scsi"
)

// Gateways carries the logical unit's events to the other gateway nodes that
// export it (gateway.Channel): a reset through one node must leave its unit
// attention for the initiators of every node.
type Gateways interface {
	// Announce tells the other nodes and returns once they applied it, or after a
	// bounded wait; it blocks, so only a goroutine calls it.
	Announce(kind gateway.Kind) error
	// Attach sets where the other nodes' events go.
	Attach(fn func(n gateway.Notice, ack func()))
}

// gatewayNotice is another node's event, delivered to the LUN actor; ack tells the
// announcer it is applied.
type gatewayNotice struct {
	n   gateway.Notice
	ack func()
}

// attachGateways has the other nodes' events sent to the actor.
func (l *lunActor) attachGateways(ctx actor.Context) {
	if l.cfg.Gateways == nil {
		return
	}
	root, self := ctx.ActorSystem().Root, ctx.Self()
	l.cfg.Gateways.Attach(func(n gateway.Notice, ack func()) { root.Send(self, &gatewayNotice{n: n, ack: ack}) })
}

// applyNotice applies another node's reset to this node: its unit attention for
// this node's nexuses, and the abort of the task set, which is the logical unit's
// one task set whichever node the tasks came through (SAM-5: a LOGICAL UNIT RESET
// aborts every task of every I_T nexus). Tasks that have not reached the backend
// are ended at once (ABORTED COMMAND: this node's connections were not told of the
// function, so they answer it as such, and the initiator retries); the notice is
// acknowledged, which lets the other node answer the function, once the calls in
// progress for aborted tasks have returned, or after tmfGrace (at most the LUN's
// ioTimeout) when they are abandoned, their ranges fenced until they return, as a
// local reset detaches them. So nothing of the task set that waited on this node
// starts after the reset is answered; a write already in a backend call that does
// not return within the grace may still land after it (as on the node that took
// the reset), and the acknowledgement is off the actor (an ack is a network call).
func (l *lunActor) applyNotice(ctx actor.Context, m *gatewayNotice) {
	switch m.n.Kind {
	case gateway.LogicalUnitReset:
		l.cfg.Device.Reset()
		l.cfg.Device.AddUnitAttention("", scsi.BusDeviceReset())
	case gateway.TargetReset:
		l.cfg.Device.Reset()
		l.cfg.Device.AddUnitAttention("", scsi.PowerOnReset())
	default:
		l.cfg.Log.Info("event from another gateway", "lun", l.cfg.ID, "kind", m.n.Kind, "group", m.n.Group)
		go m.ack()
		return
	}
	l.flush(ctx)
	d := l.aborted(&pb.TaskManagement{Function: pb.TmfFunction_TMF_FUNCTION_LOGICAL_UNIT_RESET, ReplyTo: pb.NewPid(ctx.Self())})
	l.cfg.Log.Info("reset through another gateway: task set aborted", "lun", l.cfg.ID, "kind", m.n.Kind,
		"group", m.n.Group, "tasks", len(d.tasks))
	if len(d.tasks) == 0 {
		go m.ack()
		return
	}
	l.stopCopies(ctx, d)
	l.detach(ctx, &detach{tasks: d.tasks, waiting: true})
	grace := tmfGrace
	if l.cfg.IOTimeout > 0 {
		grace = min(grace, l.cfg.IOTimeout)
	}
	l.noticeDrained(ctx, &noticeDrain{d: d, ack: m.ack, deadline: time.Now().Add(grace)})
}

// noticeDrain waits for the calls of a task set another node's reset aborted.
type noticeDrain struct {
	d        *detach
	ack      func()
	deadline time.Time
}

// noticeDrainPoll is how often the LUN looks whether the aborted calls returned.
const noticeDrainPoll = 5 * time.Millisecond

// noticeDrained acknowledges the notice once no worker holds an aborted task, or
// detaches those that still do once the deadline passed.
func (l *lunActor) noticeDrained(ctx actor.Context, m *noticeDrain) {
	busy := false
	for _, s := range l.pool.slots {
		for _, io := range []*pb.IoRequest{s.handed.Load(), s.cur.Load()} {
			if io != nil && io != abandonedIO && (m.d.tasks[io.Task] || slices.ContainsFunc(io.Parts,
				func(p *pb.IoRequest) bool { return m.d.tasks[p.Task] })) {
				busy = true
			}
		}
	}
	if busy && time.Now().Before(m.deadline) {
		root, self := ctx.ActorSystem().Root, ctx.Self()
		time.AfterFunc(noticeDrainPoll, func() { root.Send(self, m) })
		return
	}
	if busy {
		l.detach(ctx, m.d)
	}
	go m.ack()
}

// announced answers a reset once the other nodes have its unit attention: the
// function's answer tells the initiator the reset is done on every path. The wait is
// bounded (gateway.DefaultTimeout); a node that did not answer is logged.
func (l *lunActor) announced(ctx actor.Context, m *pb.TaskManagement, done *pb.TaskManagementDone) bool {
	var kind gateway.Kind
	switch m.Function {
	case pb.TmfFunction_TMF_FUNCTION_LOGICAL_UNIT_RESET:
		kind = gateway.LogicalUnitReset
	case pb.TmfFunction_TMF_FUNCTION_TARGET_WARM_RESET, pb.TmfFunction_TMF_FUNCTION_TARGET_COLD_RESET:
		kind = gateway.TargetReset
	}
	// A cluster LUN's reset also waits for the shared reservation state
	// (cluster.go).
	release := l.takeResetDone()
	if (l.cfg.Gateways == nil || kind == 0) && release == nil {
		return false
	}
	gw, root, to, log, id := l.cfg.Gateways, ctx.ActorSystem().Root, m.ReplyTo.PID(), l.cfg.Log, l.cfg.ID
	go func() {
		if release != nil {
			release()
		}
		if gw != nil && kind != 0 {
			if err := gw.Announce(kind); err != nil {
				log.Warn("reset not acknowledged by every gateway", "lun", id, "err", err)
			}
		}
		root.Send(to, done)
	}()
	return true
}
