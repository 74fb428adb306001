package lun

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/atgt/atgt/actors/metrics"
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/iscsi"
	"github.com/atgt/atgt/messages/scsi"
)

// An administrator changes a served LUN through these messages, which the target
// sends from outside the actor tree; each answers through its Done callback, called
// once from the LUN actor (so it must not block).

// Retire takes the LUN out of service before its removal. Without Force a LUN that
// holds tasks, or that a command reached within Recent, refuses (Done hears Refused,
// how many it holds and how long ago its last command came) and serves on: an
// initiator that keeps IO outstanding uses the LUN even at the moments when the
// target holds none of its commands (they are on the wire, or the initiator is
// busy with the answers), so a count of tasks alone lets a busy LUN be removed.
// The check and the retirement are one step of the LUN actor, so no command slips
// between them.
// Otherwise it answers every new command ILLEGAL REQUEST, LOGICAL UNIT NOT SUPPORTED
// (25/00), as a LUN that does not exist, lets the tasks it holds finish, and calls
// Done once it holds none; the target then stops it. A session that routed a command
// here before the route was removed is so answered, never left waiting.
type Retire struct {
	Force bool
	// Recent is how long after its last command a LUN counts as in use; 0: only the
	// tasks it holds count (the target's sessions were already ended).
	Recent time.Duration
	Done   func(RetireResult)
}

// RetireResult is the outcome of a Retire.
type RetireResult struct {
	// Refused: the LUN was in use (held tasks, or had a command within Recent) and
	// Force was not set; it serves on.
	Refused bool
	// Held is the number of tasks the LUN held when Retire arrived.
	Held int64
	// Since is how long before the Retire the last command reached the LUN; -1: no
	// command has.
	Since time.Duration
}

// Unretire undoes a Retire whose removal was given up (another step of the change
// failed, or the tasks did not drain in time): the LUN serves again.
type Unretire struct{}

// Resize sets the capacity the LUN reports to Blocks and establishes the unit
// attention CAPACITY DATA HAS CHANGED (2A/09) for every I_T nexus, so that initiators
// read the capacity again. Commands past the new end are refused from then on. The
// target resizes the backend before a growth and after a shrink (once Drain answers).
type Resize struct {
	Blocks uint64
	Done   func()
}

// Drain calls Done once the LUN holds no task handed to its workers (at once if it
// holds none): after a shrink, no IO that began before it is still writing past the
// new end.
type Drain struct{ Done func() }

// UnitAttention establishes Sense for every I_T nexus that has used the LUN (REPORTED
// LUNS DATA HAS CHANGED when the target's LUNs change).
type UnitAttention struct{ Sense *scsi.SenseError }

// held counts the tasks the LUN holds: with the workers, waiting for a range lock or
// for an ORDERED task, or held back for merging; and a background SANITIZE. A task
// held back for merging (run.parts) is already in inflight (count comes before
// hold), so it is not added again.
func (l *lunActor) held() int64 {
	return l.order.inflight.n.Load() + l.order.background.n.Load() + int64(len(l.order.queue))
}

// admin handles the administrator's messages; it reports whether m was one.
func (l *lunActor) admin(ctx actor.Context, m any) bool {
	switch m := m.(type) {
	case *Retire:
		n, since := l.held(), time.Duration(-1)
		if l.lastTask != 0 {
			since = time.Duration(max(metrics.Now()-l.lastTask, 0))
		}
		if !m.Force && (n > 0 || since >= 0 && since < m.Recent) {
			m.Done(RetireResult{Refused: true, Held: n, Since: since})
			return true
		}
		l.cfg.Log.Info("LUN retiring: new commands are answered LOGICAL UNIT NOT SUPPORTED", "held", n)
		l.retired = m
		l.retiredHeld = n
		l.flush(ctx)
		l.checkRetired()
	case *Unretire:
		if l.retired != nil {
			l.cfg.Log.Info("LUN serves again: its removal was given up")
			l.retired = nil
		}
	case *Resize:
		l.cfg.Device.SetBlocks(m.Blocks)
		l.cfg.Device.AddUnitAttention("", scsi.CapacityDataChanged())
		l.cfg.Log.Info("LUN resized", "blocks", m.Blocks)
		m.Done()
	case *Drain:
		l.drainWaiters = append(l.drainWaiters, m.Done)
		l.checkDrain()
	case *UnitAttention:
		l.cfg.Device.AddUnitAttention("", m.Sense)
	default:
		return false
	}
	return true
}

// refuseRetired answers a retired LUN's new commands and task management functions
// as the dispatcher answers them for a LUN that does not exist; it reports whether m
// was one of them.
func (l *lunActor) refuseRetired(ctx actor.Context, m any) bool {
	switch m := m.(type) {
	case *pb.ScsiTask:
		l.reply(ctx, m, pb.CheckCondition(m.Itt, scsi.LogicalUnitNotSupported())) // counted, as every answer
	case *pb.TaskManagement:
		// A function for this LUN alone learns that it does not exist; a target reset
		// fanned out to every LUN is done here, as nothing is left to reset. The
		// tasks a forced retirement still holds are detached as usual, so that a
		// hung call never keeps the function's answer (the connection waits for
		// them) or the retirement waiting.
		l.detachLater(ctx, m)
		resp := uint32(iscsi.TMFRespLUNNotExist)
		if m.FanOut > 1 {
			resp = iscsi.TMFRespComplete
		}
		ctx.Send(m.ReplyTo.PID(), &pb.TaskManagementDone{Itt: m.Itt, Response: resp, FanOut: m.FanOut})
	default:
		return false
	}
	return true
}

// checkRetired tells the retiring LUN's requester once it holds no task.
func (l *lunActor) checkRetired() {
	if l.retired == nil || l.retired.Done == nil {
		return
	}
	if idle := l.order.quiet(); !idle || l.held() > 0 { // quiet first: it asks for a drained message
		return
	}
	done := l.retired.Done
	l.retired.Done = nil
	done(RetireResult{Held: l.retiredHeld})
}

// checkDrain answers the Drains waiting once the workers hold no task.
func (l *lunActor) checkDrain() {
	if len(l.drainWaiters) == 0 || !l.order.quiet() {
		return
	}
	for _, done := range l.drainWaiters {
		done()
	}
	l.drainWaiters = nil
}
