package lun

import (
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

// applyNotice establishes the unit attention of another node's reset for this node's
// nexuses, then acknowledges (off the actor: an ack is a network call).
func (l *lunActor) applyNotice(m *gatewayNotice) {
	switch m.n.Kind {
	case gateway.LogicalUnitReset:
		l.cfg.Device.Reset()
		l.cfg.Device.AddUnitAttention("", scsi.BusDeviceReset())
	case gateway.TargetReset:
		l.cfg.Device.Reset()
		l.cfg.Device.AddUnitAttention("", scsi.PowerOnReset())
	}
	l.cfg.Log.Info("reset through another gateway", "lun", l.cfg.ID, "kind", m.n.Kind, "group", m.n.Group)
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
