// Package dispatcher holds the command dispatcher actor, which routes each SCSI task
// to the LUN actor that owns its logical unit and answers tasks for LUNs that do not
// exist as SPC-4 requires.
package dispatcher

import (
	"fmt"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/go-hclog"

	"github.com/atgt/atgt/actors/sched"
	"github.com/atgt/atgt/actors/supervise"
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/iscsi"
	"github.com/atgt/atgt/messages/scsi"
)

// Key names one logical unit: the route of the set of logical units it belongs to and
// its LUN number. The route is the target's name for the target's shared logical
// units, or RouteName(target, initiator) for those of an initiator that has its own.
// Tasks, task management functions and nexus losses carry the route as their target,
// so routing, REPORT LUNS through a missing LUN, the target resets and a nexus loss
// all stay within the logical units the initiator sees.
type Key struct {
	Target string
	LUN    uint64
}

// RouteName is the route of the logical units a target gives one initiator of its
// own: the target's name, a space and the initiator's name. A space never occurs in
// an iSCSI name, so a route name never equals a target's name nor another pair's.
func RouteName(target, initiator string) string { return target + " " + initiator }

// Routes maps every served logical unit to its LUN actor: one version of a Table.
type Routes map[Key]*actor.PID

// Lookup returns the LUN actor of a logical unit, or nil.
func (r Routes) Lookup(target string, lun uint64) *actor.PID {
	return r[Key{target, lun}]
}

// Flush asks the dispatcher to answer ReplyTo with Flushed once everything sent to it
// before has gone on to the LUNs. A LUN's mailbox is first in, first out, so whatever
// ReplyTo sends a LUN after Flushed arrives behind those messages: the session
// manager lets a reinstating session start only behind the NexusLoss of the session
// it replaces.
type Flush struct {
	ReplyTo *actor.PID
	Tag     any
}

// Flushed answers Flush.
type Flushed struct{ Tag any }

// Props returns the dispatcher's props. Its supervisor (the root) restarts it on
// failure, over the same table, after answering the message it failed on with Failed.
func Props(routes *Table, log hclog.Logger) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor {
		return &dispatcher{routes: routes, log: log}
	}, actor.WithDispatcher(sched.Default))
}

type dispatcher struct {
	routes *Table
	log    hclog.Logger
}

// Receive routes tasks and task management functions.
func (d *dispatcher) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *pb.TaskManagement:
		d.taskManagement(ctx, m)
		return
	case *pb.NexusLoss:
		nexusLoss(ctx.Send, d.routes.Load(), m)
		return
	case *Flush:
		ctx.Send(m.ReplyTo, &Flushed{Tag: m.Tag})
		return
	case *supervise.Crash:
		m.Panic()
	}
	t, ok := ctx.Message().(*pb.ScsiTask)
	if !ok {
		return
	}
	routes := d.routes.Load()
	if pid, ok := routes[Key{t.Target, t.Lun}]; ok {
		ctx.Send(pid, t)
		return
	}
	var op byte
	if len(t.Cdb) > 0 {
		op = t.Cdb[0]
	}
	switch op {
	case scsi.OpReportLUNs:
		// The first LUN of each target answers REPORT LUNS addressed to a LUN that
		// does not exist (SPC-4 6.33: REPORT LUNS works through any LUN).
		if k, ok := routes.first(t.Target); ok {
			ctx.Send(routes[k], t)
			return
		}
	case scsi.OpInquiry:
		ctx.Send(t.ReplyTo.PID(), noLUNInquiry(t))
		return
	}
	ctx.Send(t.ReplyTo.PID(), pb.CheckCondition(t.Itt, scsi.LogicalUnitNotSupported()))
}

// nexusLoss tells every LUN of the target that a nexus ended.
func nexusLoss(send func(*actor.PID, any), routes Routes, m *pb.NexusLoss) {
	for k, pid := range routes {
		if k.Target == m.Target {
			send(pid, m)
		}
	}
}

// Failed answers the message the dispatcher failed on (protoactor hands it to the
// supervisor's HandleFailure), so that its failure leaves no initiator waiting: a
// ScsiTask gets CHECK CONDITION, HARDWARE ERROR / INTERNAL TARGET FAILURE; a
// TaskManagement gets a TaskManagementDone with FUNCTION REJECTED and a fan-out of 1,
// so that its connection waits for no other answer (a LUN's late answer is ignored);
// a NexusLoss goes to the LUNs of its target, which it may already have reached (a
// second one changes nothing); a Flush is answered (what came before it was handled).
// It returns what it did, for the supervisor's log. A task already sent on before the
// failure is answered twice; the connection ignores the second answer, as it does any
// answer for a task it no longer holds.
func Failed(send func(*actor.PID, any), routes Routes, message any) string {
	switch m := message.(type) {
	case *pb.ScsiTask:
		send(m.ReplyTo.PID(), pb.CheckCondition(m.Itt, scsi.InternalTargetFailure()))
		return fmt.Sprintf("task itt %#x answered CHECK CONDITION (INTERNAL TARGET FAILURE)", m.Itt)
	case *pb.TaskManagement:
		send(m.ReplyTo.PID(), &pb.TaskManagementDone{Itt: m.Itt, Response: iscsi.TMFRespRejected, FanOut: 1})
		return fmt.Sprintf("task management itt %#x answered FUNCTION REJECTED", m.Itt)
	case *pb.NexusLoss:
		nexusLoss(send, routes, m)
		return "nexus loss delivered to the LUNs"
	case *Flush:
		send(m.ReplyTo, &Flushed{Tag: m.Tag})
		return "flush answered"
	case nil:
		return "no message in hand"
	}
	return fmt.Sprintf("%T needs no answer", message)
}

// noLUNInquiry answers INQUIRY for a LUN that does not exist: peripheral qualifier
// 011b (no device can be attached here) and device type 1Fh, per SPC-4 6.6.2.
func noLUNInquiry(t *pb.ScsiTask) *pb.ScsiCompletion {
	data := make([]byte, 36)
	data[0] = 0x7f
	data[2] = 0x06 // SPC-4
	data[3] = 0x02 // response data format
	data[4] = byte(len(data) - 5)
	alloc := 0
	if len(t.Cdb) >= 5 {
		alloc = int(t.Cdb[3])<<8 | int(t.Cdb[4])
	}
	if alloc < len(data) {
		data = data[:alloc]
	}
	return &pb.ScsiCompletion{Itt: t.Itt, DataIn: data, TransferLength: uint32(len(data))}
}

// taskManagement sends a task management function to its LUN, or to every LUN of the
// target for the target resets, telling each how many answers the connection awaits.
func (d *dispatcher) taskManagement(ctx actor.Context, m *pb.TaskManagement) {
	var pids []*actor.PID
	switch m.Function {
	case pb.TmfFunction_TMF_FUNCTION_TARGET_WARM_RESET, pb.TmfFunction_TMF_FUNCTION_TARGET_COLD_RESET:
		for k, pid := range d.routes.Load() {
			if k.Target == m.Target {
				pids = append(pids, pid)
			}
		}
	default:
		if pid, ok := d.routes.Load()[Key{m.Target, m.Lun}]; ok {
			pids = append(pids, pid)
		}
	}
	if len(pids) == 0 {
		resp := uint32(iscsi.TMFRespLUNNotExist)
		if m.Function == pb.TmfFunction_TMF_FUNCTION_TARGET_WARM_RESET || m.Function == pb.TmfFunction_TMF_FUNCTION_TARGET_COLD_RESET {
			// A target whose LUNs (an initiator's own, all removed) are gone: nothing
			// to reset, and a target reset has no LUN to not exist (RFC 7143 11.6.1).
			resp = iscsi.TMFRespComplete
		}
		ctx.Send(m.ReplyTo.PID(), &pb.TaskManagementDone{Itt: m.Itt, Response: resp, FanOut: 1})
		return
	}
	m.FanOut = uint32(len(pids))
	for _, pid := range pids {
		ctx.Send(pid, m)
	}
}
