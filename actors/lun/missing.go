package lun

import (
	"errors"
	"io/fs"
	"os"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/go-hclog"

	"github.com/atgt/atgt/actors/scsidev"
	"github.com/atgt/atgt/actors/supervise"
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/iscsi"
	"github.com/atgt/atgt/messages/scsi"
)

// A LUN whose store (file or block device) is missing when the target opens it (a
// filesystem not mounted yet, a disk not attached yet, a mistyped /dev path) is
// served by a missing-store actor instead of a LUN actor, so that the other LUNs
// and targets serve. It is a small actor of its own, not a LUN actor without a
// backend: a LUN actor is built around an open store (its device model's capacity
// and block size, the worker pool, the watchdog, the ALUA and cluster state all
// come from it), and coming online is then the path a LUN an administrator adds
// takes (the target opens the store with every check of a start and spawns a LUN
// actor in this one's place), with nothing on the IO path knowing of it.
//
// It answers as an offline LUN does (recover.go): every command that needs the
// medium, READ CAPACITY and TEST UNIT READY included, CHECK CONDITION, NOT READY,
// with a warn line at most every refusedLogEvery. The commands a logical unit runs
// when not ready (those of an unavailable target port, SPC-4 5.11.2.4.5: INQUIRY,
// REPORT LUNS and the MAINTENANCE IN reports) run on a device model with the LUN's
// identity (its NAA and serial do not change when it comes online), with the
// peripheral qualifier 000b (connected) as for any LU that is not ready. REQUEST
// SENSE returns the NOT READY sense (SPC-4 6.29: it reports the current state).
//
// The sense is LOGICAL UNIT NOT READY, MANUAL INTERVENTION REQUIRED (04/03): the LU
// cannot become ready until someone mounts, attaches or fixes its store, and it is
// what a served block device that vanishes (ENXIO, ENODEV) already answers
// (scsidev/errno.go). The others do not fit: BECOMING READY (04/01) is retried by
// Linux for minutes (scsi_io_completion_action: ACTION_DELAYED_RETRY), hanging the
// initiator's IO on a store that may never come, while Linux fails 04/03 at once
// (ACTION_FAIL) and does not try to spin it up (sd_spinup_disk); MEDIUM NOT PRESENT
// (3A/00) is for removable media (RMB=1); LOGICAL UNIT FAILURE (3E/01) says the LU
// broke, which an offline LUN's repeated failures mean but an absent store does
// not; LOGICAL UNIT NOT READY, OFFLINE (04/12) belongs to ALUA's offline target
// port state, a path matter. SPDK answers a hot-removed bdev's LUN CHECK CONDITION
// until it deletes the LUN, and LIO exports no LUN without an enabled backstore:
// neither keeps a LUN waiting for its store, which is what this does.
//
// The actor looks for the store every Recheck (one timer goroutine, stopped with
// the actor), off the actor (a stat on a hung mount must not block it); once the
// store is there and settled (storeWatch) it calls Appeared, once until the target
// answers StillMissing.

// DefaultRecheck is how often a missing store is looked for.
const DefaultRecheck = 5 * time.Second

// MissingConfig describes a LUN whose store is missing.
type MissingConfig struct {
	Target string
	ID     uint64
	// Path is the store looked for.
	Path string
	// Reason says why the LUN is not served, for the log.
	Reason string
	// Device answers the commands that run while not ready, with the LUN's identity.
	Device *scsidev.Device
	// Recheck is how often Path is looked for; 0: DefaultRecheck.
	Recheck time.Duration
	// Appeared is called from the actor (so it must not block) once Path exists;
	// the target then opens the store and replaces this actor, or sends
	// StillMissing. Nil: the store is never looked for.
	Appeared func()
	// Log is the LUN's logger, which names its target and number.
	Log hclog.Logger

	// stat looks at Path; nil: os.Stat. Tests script it.
	stat func(string) (fs.FileInfo, error)
}

// StillMissing tells a missing-store actor that its store could not be opened
// after all; it looks again every Recheck.
type StillMissing struct{ Reason string }

// errMissing answers the commands of a LUN whose store is missing.
var errMissing = scsi.NotReadyManualIntervention()

// MissingProps returns the props of a missing-store actor.
func MissingProps(cfg MissingConfig) *actor.Props {
	if cfg.Recheck <= 0 {
		cfg.Recheck = DefaultRecheck
	}
	if cfg.Log == nil {
		cfg.Log = hclog.NewNullLogger()
	}
	if cfg.stat == nil {
		cfg.stat = os.Stat
	}
	return actor.PropsFromProducer(func() actor.Actor { return &missingActor{cfg: cfg} })
}

// missingActor serves a LUN whose store is missing.
type missingActor struct {
	cfg  MissingConfig
	stop chan struct{}
	// found is set from the timer's report of the store until StillMissing.
	found bool
	// retired: an administrator removes the LUN (Retire); its commands are then
	// answered as a retired LUN actor answers them.
	retired bool
	// refusals bounds the warn lines of the commands refused, as an offline LUN's.
	refusals refusals
}

// storeSeen: the timer found the store.
type storeSeen struct{}

// Receive answers tasks, task management and the administrator's messages.
func (m *missingActor) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *actor.Started:
		m.startTimer(ctx)
	case *actor.Stopping, *actor.Restarting:
		if m.stop != nil {
			close(m.stop)
			m.stop = nil
		}
	case *storeSeen:
		if !m.found && !m.retired && m.cfg.Appeared != nil {
			m.found = true
			m.cfg.Log.Info("the missing LUN's store is there; opening it", "path", m.cfg.Path)
			m.cfg.Appeared()
		}
	case *StillMissing:
		m.found = false
		if msg.Reason != m.cfg.Reason {
			m.cfg.Reason = msg.Reason
			m.cfg.Log.Warn("the LUN's store is there but cannot be served yet; looking again", "path", m.cfg.Path,
				"reason", msg.Reason, "every", m.cfg.Recheck)
		}
	case *pb.ScsiTask:
		m.task(ctx, msg)
	case *pb.TaskManagement:
		// It holds no task: every command is answered at once. A function for
		// this LUN is done; a retired one's is answered as a LUN that does not
		// exist, as refuseRetired does.
		resp := uint32(iscsi.TMFRespComplete)
		if m.retired && msg.FanOut <= 1 {
			resp = iscsi.TMFRespLUNNotExist
		}
		ctx.Send(msg.ReplyTo.PID(), &pb.TaskManagementDone{Itt: msg.Itt, Response: resp, FanOut: msg.FanOut})
	case *Retire:
		m.retired = true
		msg.Done(RetireResult{Since: -1})
	case *Unretire:
		m.retired = false
	case *Drain:
		msg.Done()
	case *Resize:
		msg.Done()
	case *supervise.Crash:
		msg.Panic() // the supervision tests' failure (README "Failures and supervision")
	}
}

// task answers one command.
func (m *missingActor) task(ctx actor.Context, t *pb.ScsiTask) {
	if m.retired {
		sendAnswer(ctx, t, pb.CheckCondition(t.Itt, scsi.LogicalUnitNotSupported()))
		return
	}
	if len(t.Cdb) > 0 && t.Cdb[0] == scsi.OpRequestSense && len(t.Cdb) >= 6 {
		if t.Cdb[1]&0x01 != 0 { // descriptor format, refused as the device model does
			sendAnswer(ctx, t, pb.CheckCondition(t.Itt, scsi.InvalidFieldInCDB(1, 0)))
			return
		}
		data := scsi.AppendSense(nil, errMissing)
		if n := int(t.Cdb[4]); n < len(data) {
			data = data[:n]
		}
		sendAnswer(ctx, t, &pb.ScsiCompletion{Itt: t.Itt, Status: uint32(scsi.StatusGood), DataIn: data,
			TransferLength: uint32(len(data))})
		return
	}
	if len(t.Cdb) > 0 && scsidev.RunsWhenUnavailable(t.Cdb) {
		res := m.cfg.Device.Execute(&scsidev.Request{CDB: t.Cdb, Nexus: t.Nexus, ExpectedLength: t.ExpectedLength}, nil)
		sendAnswer(ctx, t, &pb.ScsiCompletion{Itt: t.Itt, Status: uint32(res.Status), Sense: res.Sense, DataIn: res.Data,
			TransferLength: uint32(len(res.Data))})
		return
	}
	sendAnswer(ctx, t, pb.CheckCondition(t.Itt, errMissing))
	if n, ok := m.refusals.note(); ok {
		m.cfg.Log.Warn("LUN with a missing store refused commands (NOT READY, MANUAL INTERVENTION REQUIRED)",
			"path", m.cfg.Path, "commands", n, "itt", t.Itt)
	}
}

// startTimer looks for the store every Recheck until the actor stops.
func (m *missingActor) startTimer(ctx actor.Context) {
	if m.cfg.Appeared == nil || m.stop != nil {
		return
	}
	m.stop = make(chan struct{})
	stop, root, self, path, every, stat := m.stop, ctx.ActorSystem().Root, ctx.Self(), m.cfg.Path, m.cfg.Recheck, m.cfg.stat
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		var w storeWatch
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if w.ready(stat(path)) {
					root.Send(self, &storeSeen{})
				}
			}
		}
	}()
}

// storeWatch decides from successive looks at a missing store's path, one every
// Recheck, when the store may be opened. A regular file is ready once two
// successive looks saw it with the same size and modification time: one copied
// into place (cp, rsync without a rename, a download) is being written, and would
// be opened half written with a wrong capacity; a writer that makes progress
// between two looks changes one or the other. A writer that pauses for longer than
// Recheck is not seen: the README asks for a finished copy renamed into place. A
// block device (or anything that is not a regular file, which the target's open
// then refuses with its reason) is ready when it appears: a device node is whole
// once it is there. So is a path that stat cannot read for another reason than
// its absence (EACCES, EIO): the open says why.
type storeWatch struct {
	// last is the regular file the previous look saw; nil if it saw none.
	last fs.FileInfo
}

// ready takes one look (stat's answer) and reports whether the store may be
// opened now.
func (w *storeWatch) ready(fi fs.FileInfo, err error) bool {
	prev := w.last
	w.last = nil
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false
	case err != nil || !fi.Mode().IsRegular():
		return true
	}
	w.last = fi
	return prev != nil && prev.Size() == fi.Size() && prev.ModTime().Equal(fi.ModTime())
}
