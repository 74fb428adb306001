// Package lun holds the LUN actor, which owns one logical unit's SCSI state (through a
// scsidev.Device) and hands its disk IO to a supervised pool of IO workers.
package lun

import (
	"errors"
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/go-hclog"

	"github.com/atgt/atgt/actors/metrics"
	"github.com/atgt/atgt/actors/prcluster"
	"github.com/atgt/atgt/actors/reservation"
	"github.com/atgt/atgt/actors/sched"
	"github.com/atgt/atgt/actors/scsidev"
	"github.com/atgt/atgt/actors/slab"
	"github.com/atgt/atgt/actors/trace"
	"github.com/atgt/atgt/backend"
	"github.com/atgt/atgt/backend/faults"
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/scsi"
)

// Config describes one LUN actor.
type Config struct {
	Target  string
	ID      uint64
	Device  *scsidev.Device
	Backend backend.Backend
	// Faults, if set, may panic the LUN actor on a command (lunFaults).
	Faults  *faults.Injector
	Workers int
	// Reservations is the LUN's reservation state; nil serves no reservations.
	Reservations *reservation.Table
	// ClusterPR, if set, keeps the persistent reservations in a store shared by
	// every node exporting the logical unit (cluster.go); Reservations is then
	// this node's cached copy.
	ClusterPR *prcluster.Store
	// StatePath is where persistent reservations with APTPL are saved ("" = nowhere).
	StatePath string
	// ModesPath is where saved mode pages (MODE SELECT with SP=1) are written
	// ("" = nowhere; the device must then not offer saving).
	ModesPath string
	// Peers are the LUN actors of the target's logical units by NAA, this one
	// included (it registers itself), for EXTENDED COPY; nil copies only within
	// this LU.
	Peers *Registry
	// IOTimeout is how long a backend call may take before it is abandoned
	// (watchdog.go); 0 never abandons one.
	IOTimeout time.Duration
	// Rebuild makes the device model and reservation state anew from the config and
	// the persisted files, for a LUN actor that failed (recover.go), which hands the
	// new device model the IO still in flight (scsidev.Device.TakePending); nil keeps
	// them.
	Rebuild func() (*scsidev.Device, *reservation.Table, error)
	// Metrics, if set, counts the LUN's commands, latency and failures (metrics.go);
	// nil counts nothing.
	Metrics *metrics.LUN
	// Flight is the LUN's flight recorder (trace.go); nil keeps and logs nothing.
	Flight *trace.Flight
	// ALUA is the LUN's part in the target's port groups (alua.go); nil: none.
	ALUA *ALUA
	// Gateways carries resets to the other gateway nodes (gateways.go); nil: none.
	Gateways Gateways
	// Reopen brings the LUN back after its backend was fenced off (reopen.go); nil:
	// a backend no cluster fences.
	Reopen *Reopen
	Log    hclog.Logger
}

// Props returns the props of a LUN actor. Its children are the IO workers; a worker
// that panics is restarted and its IO retried once (supervisor.go), one whose call
// hangs is replaced (watchdog.go).
func Props(cfg Config) *actor.Props {
	order := &taskOrder{}
	untracked := &drainCounter{}
	sup := &workerSupervisor{log: cfg.Log}
	// The LUN looks at its own mailbox to merge adjacent IO that arrives together.
	mailbox := &sched.Probe{}
	return actor.PropsFromProducer(func() actor.Actor {
		return &lunActor{cfg: cfg, sup: sup, locks: newRangeLocks(untracked), order: order, mailbox: mailbox,
			stats: cfg.Metrics.Shard(0)}
	}, actor.WithSupervisor(sup), actor.WithDispatcher(sched.Default), mailbox.Option())
}

type lunActor struct {
	cfg   Config
	sup   *workerSupervisor
	self  *actor.PID
	pool  *pool
	locks *rangeLocks
	// order holds the task attributes' queue, shared with the workers' count.
	order *taskOrder
	// dispatched counts tasks handed to the workers, to tell whether one was.
	dispatched uint64
	// executing is the task the device model has in hand (execute), which a
	// failure of the actor answers (recover.go).
	executing *pb.ScsiTask
	// pending is the turn's message, if a task, until it is answered or execute
	// has run it: a failure of the actor answers it only until then (recover.go).
	pending *pb.ScsiTask
	// handing is the IO execute counted for the workers, or handOn took out of
	// the LUN's state, and has not yet handed on, which a failure of the actor
	// ends (handing.go).
	handing []*pb.IoRequest
	// run holds adjacent reads or writes back while the mailbox is busy (merge.go).
	run     ioRun
	mailbox *sched.Probe
	// ios holds the IoRequests: one allocation per many IOs.
	ios slab.Slab[pb.IoRequest]
	// stopWatchdog ends the watchdog's ticker; stopALUA the lock poller's.
	stopWatchdog, stopALUA chan struct{}
	// follow decides when the ALUA states follow the lock (alua.go).
	follow lockFollower
	// contact is when the lock poller last reached the cluster (alua_contact.go).
	contact clusterContact
	// failures are when the actor failed lately; offline is set once it failed too
	// often (recover.go).
	failures []time.Time
	offline  bool
	// refusals bounds the warn lines of the commands answered offline.
	refusals refusals
	// retired is set once an administrator's Retire took the LUN out of service
	// (admin.go); retiredHeld is how many tasks it held then.
	retired     *Retire
	retiredHeld int64
	// lastTask is when the last command reached the LUN (metrics.Now; 0: none yet),
	// for a Retire's recent-use check.
	lastTask int64
	// drainWaiters are the Drains to answer once the workers hold no task.
	drainWaiters []func()
	// stats is the LUN actor's shard of the LUN's metrics (nil: none).
	stats *metrics.Shard
	// reopen is the way back after the backend was fenced off (reopen.go).
	reopen reopenState
	// copies are the EXTENDED COPY tasks whose copier runs (copymanager.go).
	copies map[*pb.ScsiTask]*runningCopy
	// prDoubt is set while the cluster store says this node may have missed a
	// reservation change, as of its Update numbered prSeq (cluster.go).
	prDoubt bool
	prSeq   uint64
	// prLate are the snapshots that abandoned reservation saves wrote, or may
	// have, once their calls returned, not yet checked against the table
	// (prsave.go).
	prLate [][]byte
	// prResave is the re-saves with the workers and the backoff of failed
	// ones (prresave.go).
	prResave resaveState
	// gate checks the lease by the clock before IO starts, here and in the
	// workers; nil for a LUN with neither a cluster store nor port groups
	// (lease.go).
	gate *leaseGate
	// resetDone is closed once the store has released a RESERVE(6)/(10)
	// for the reset in hand; its answer waits for it (cluster.go).
	resetDone chan struct{}
	// flushes follows how often the initiators flush, for write-behind
	// (writebehind.go).
	flushes flushHabit
}

// Receive handles tasks from sessions and the dispatcher, and workers' reports.
func (l *lunActor) Receive(ctx actor.Context) {
	defer l.recoverPanic(ctx)
	l.pending, _ = ctx.Message().(*pb.ScsiTask)
	if l.stats != nil {
		l.arrive(ctx.Message())
	}
	if l.offline && l.refuseOffline(ctx) || l.retired != nil && l.refuseRetired(ctx, ctx.Message()) ||
		l.admin(ctx, ctx.Message()) {
		l.endTurn(ctx) // the turn may be the last of a burst that left a run held
		return
	}
	switch m := ctx.Message().(type) {
	case *actor.Started:
		l.sup.lun, l.self = l, ctx.Self()
		l.gate = newLeaseGate(l.cfg)
		l.pool = newPool(max(l.cfg.Workers, 1), func(sh *shared, s *slot) *actor.Props {
			return workerProps(l.cfg, l.order, l.locks.untracked, sh, s, l.gate)
		})
		for i := range l.pool.slots {
			l.pool.spawn(ctx, i)
		}
		l.attachProgress()
		l.startWatchdog(ctx)
		l.attachCluster(ctx)
		l.startALUA(ctx)
		l.attachGateways(ctx)
		l.attachReopen(ctx)
		l.cfg.Peers.Register(l.cfg.Device.NAA(), l.self)
	case *actor.Stopping, *actor.Restarting:
		l.endWatchdog()
		l.endALUA()
		l.endReopen()
		_, stopping := m.(*actor.Stopping)
		l.endResave(stopping)
	case *actor.Stopped:
		l.closeDoor(ctx)
		l.cfg.Peers.Deregister(l.cfg.Device.NAA(), l.self)
		if l.cfg.ClusterPR != nil {
			l.cfg.ClusterPR.Close()
		}
	case *prcluster.Update:
		l.applyUpdate(ctx, m)
	case *prAnswer:
		l.prAnswered(ctx, m)
	case *fenceExpired:
		l.expireFence(ctx, m)
	case *lockState:
		l.lockReport(ctx, m)
	case *gatewayNotice:
		l.applyNotice(ctx, m)
	case *noticeDrain:
		l.noticeDrained(ctx, m)
	case *backendFenced:
		l.backendFenced(ctx, m)
	case *sessionsEnded:
		l.sessionsEnded(ctx, m)
	case *reopened:
		l.reopenDone(m)
		// A re-save the reopen held back goes now (prresave.go): an idle LUN
		// has no other turn that would let it.
		l.resaveIfDue(ctx)
	case *tick:
		l.tick(ctx)
	case *resaveRetry:
		l.retryResave(ctx, m)
	case *lateReturn:
		l.lateReturn(ctx, m.s)
	case *room:
		l.refill(ctx)
	case *detach:
		l.detach(ctx, m)
	case *copyDone:
		l.copyEnded(ctx, m)
	case *fenceCommand:
		l.fenceCommand(ctx, m)
	case *copyFenceLate:
		l.copyFenceLate(ctx, m)
	case *pb.TaskManagement:
		l.taskManagement(ctx, m)
	case *pb.NexusLoss:
		ended := l.nexusLost(ctx, m)
		if m.ConnectionOnly {
			// A reinstated connection: the nexus and its state go on, and learns of
			// the tasks ended with the old connection on its next command.
			if ended > 0 {
				l.cfg.Device.AddUnitAttention(m.Nexus, scsi.CommandsClearedByISCSI())
			}
			break
		}
		l.cfg.Device.NexusLost(m.Nexus)
		if l.cfg.ClusterPR != nil {
			l.clusterNexusLost(m.Nexus)
		} else if l.cfg.Reservations != nil {
			l.cfg.Reservations.NexusLost(reservation.Nexus{ID: m.Nexus})
		}
	case *pb.ScsiTask:
		if m.ArrivedNanos == 0 {
			m.ArrivedNanos = trace.Now() // for the flight recorder, without metrics
		}
		if m.TraceId != 0 {
			l.hop(m, trace.HopLUN, m, "", "")
		}
		l.lastTask = m.ArrivedNanos
		l.submit(ctx, m)
		l.cfg.Metrics.NotePeak(l.held())
	case *repump:
		l.repump(ctx)
	case *drained:
		l.pump(ctx)
		l.checkRetired()
		l.checkDrain()
		l.tryReopen(ctx)
		l.resaveIfDue(ctx)
	case *writesDrained:
		l.handOn(ctx, l.locks.retry()...)
	case *pb.IoRequest:
		// A worker finished an IO that held a range lock or that the device
		// model waits for (copy status, sanitize).
		if m.Token != 0 {
			failure := answerFailure(m.Answer)
			l.cfg.Device.IODone(m.Token, failure)
			l.reservationSaved(ctx, m, failure == nil)
		}
		if backgroundSave(m) {
			l.resaveEnded(ctx, m, answerFailure(m.Answer))
		}
		if m.LockId != 0 {
			l.handOn(ctx, l.locks.release(m.LockId)...)
		}
	}
	l.endTurn(ctx)
}

// endTurn sends the held merge run and wakes workers for queued IO once no message
// waits: every turn must end with it, or a run held while a burst arrived would
// wait for a message that may never come.
func (l *lunActor) endTurn(ctx actor.Context) {
	if l.mailbox.Idle() {
		if len(l.run.parts) > 0 {
			l.flush(ctx)
		}
		if l.pool != nil && !l.pool.sh.q.empty() {
			l.wakeQueued(ctx)
		}
	}
}

// execute runs t through the device model, which makes every check that comes
// before a command in SAM-5 order (scsidev.Device.Execute), and answers it or
// hands its IO plan to a worker.
func (l *lunActor) execute(ctx actor.Context, t *pb.ScsiTask) {
	if l.gate != nil && l.refuseInDoubt(ctx, t) {
		return
	}
	l.executing = t
	req := &scsidev.Request{CDB: t.Cdb, DataOut: t.DataOut, Nexus: t.Nexus, ExpectedLength: t.ExpectedLength,
		CopyManager: t.CopyManager}
	for _, p := range t.DataOutParts {
		req.DataOutLength += int64(len(p))
	}
	res := l.cfg.Device.Execute(req, l.cfg.Reservations)
	if t.TraceId != 0 {
		l.checked(t, res.Status, res.Sense, res.Refused)
	}
	l.lunFaults(&res.IO)
	if l.cfg.Log.IsDebug() {
		l.cfg.Log.Debug("task", "lun", l.cfg.ID, "itt", t.Itt, "cdb", fmt.Sprintf("%x", t.Cdb), "status", res.Status, "io", res.IO.Kind)
	}
	xfer, isRW := transferLength(t.Cdb, l.cfg.Device.BlockSize())
	if res.Refused {
		xfer = 0 // a check before the command ended it: nothing was transferred
	}
	if res.IO.Kind == pb.IoKind_IO_KIND_PERSIST_RESERVATIONS && l.cfg.ClusterPR != nil {
		l.executing = nil // from here on the task is answered or handed on
		l.clusterPROUT(ctx, t)
		return
	}
	if res.IO.Kind == pb.IoKind_IO_KIND_UNSPECIFIED {
		l.executing = nil
		if !isRW {
			xfer = uint32(len(res.Data))
		}
		l.reply(ctx, t, &pb.ScsiCompletion{
			Itt: t.Itt, Status: uint32(res.Status), Sense: res.Sense, DataIn: res.Data, TransferLength: xfer,
		})
		return
	}
	io := l.ios.New()
	io.Task, io.Kind, io.Offset, io.Length, io.Stable = t, res.IO.Kind, res.IO.Offset, res.IO.Length, res.IO.Stable
	io.TransferLength, io.BlockSize, io.MaxDescriptors = xfer, l.cfg.Device.BlockSize(), res.IO.MaxDescriptors
	switch io.Kind {
	case pb.IoKind_IO_KIND_WRITE:
		if !io.Stable {
			io.WriteBehind = l.flushes.write()
		}
	case pb.IoKind_IO_KIND_SYNC:
		l.flushes.flush()
	}
	if res.IO.Data != nil {
		t.DataOut = res.IO.Data
	}
	for _, e := range res.IO.Extents {
		io.Extents = append(io.Extents, e.Offset, e.Length)
	}
	for _, sg := range res.IO.Segments {
		io.Segments = append(io.Segments, &pb.CopySegment{SrcNaa: sg.SrcNAA, DstNaa: sg.DstNAA,
			SrcOffset: sg.SrcOffset, DstOffset: sg.DstOffset, Length: sg.Length,
			SrcBlockSize: sg.SrcBlockSize, DstBlockSize: sg.DstBlockSize,
			SrcCscdOffset: uint32(sg.SrcCSCD), DstCscdOffset: uint32(sg.DstCSCD)})
	}
	if res.IO.CopyAbort != nil {
		io.CopyAbort = scsi.AppendSense(nil, res.IO.CopyAbort)
	}
	io.Passes, io.Invert, io.RateBytesPerSecond = res.IO.Passes, res.IO.Invert, res.IO.Rate
	io.Token, io.Immediate = res.IO.Token, res.IO.Immediate
	if res.IO.Immediate {
		// SANITIZE with IMMED: GOOD now, the erase goes on in the background,
		// where no ORDERED task waits for it (taskOrder).
		l.executing = nil
		l.reply(ctx, t, &pb.ScsiCompletion{Itt: t.Itt, Status: uint32(scsi.StatusGood)})
		l.dispatched++
		l.order.background.add()
	} else {
		l.count()
	}
	// Counted: until a worker (or a range lock's or merge run's wait) has it,
	// a failure of the actor ends it as a failed IO (handing.go).
	l.executing, l.handing = nil, append(l.handing, io)
	if res.IO.Kind == pb.IoKind_IO_KIND_PERSIST_RESERVATIONS {
		l.order.barrier = true // nothing runs until its change stands or is undone (prsave.go)
	}
	if t.Flight&trace.FlightOrderWait != 0 {
		// Handed on after a wait: the wait shows (else queued is its arrival).
		t.QueuedNanos = trace.Now()
	}
	if res.IO.Kind == pb.IoKind_IO_KIND_COPY && !res.IO.LocalCopy() {
		l.startCopy(ctx, io) // through the other LUs' actors (copier.go)
		l.handedOn(io)       // the copy manager ends it from here
		return
	}
	if res.IO.Kind.Writes() {
		h := held{span: res.IO.Span(), exclusive: res.IO.Kind.Exclusive()}
		if !l.locks.acquire(io, h) {
			l.handedOn(io) // the range lock hands it on
			l.flag(io, trace.FlightLockWait, trace.HopLockWait, "")
			return // runs when the overlapping exclusive IO is done
		}
	}
	if t.TraceId != 0 {
		l.hop(t, trace.HopQueued, io, "", io.Kind.String())
	}
	l.hold(ctx, io)
	l.handedOn(io) // to a worker, or to the merge run (merge.go)
}

// count records a task handed to the workers (it may first wait for a range lock).
func (l *lunActor) count() {
	l.dispatched++
	l.order.inflight.add()
}

// errNoAnswer is the failure of a tracked IO whose worker sent it back without an
// answer, or with one that is not GOOD and carries no sense data.
var errNoAnswer = errors.New("IO ended without a GOOD answer")

// answerFailure is what the device model is told of a tracked IO a worker
// answered with a: nil for GOOD, else the sense it was answered with (a copy's
// status reads how far it got from it), or errNoAnswer.
func answerFailure(a *pb.ScsiCompletion) error {
	if a != nil && a.Status == uint32(scsi.StatusGood) {
		return nil
	}
	if a != nil {
		if se, ok := scsi.ParseSense(a.Sense); ok {
			return se
		}
	}
	return errNoAnswer
}
