package lun

import (
	"fmt"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/go-hclog"

	"github.com/atgt/atgt/actors/scsidev"
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/scsi"
)

// DoorName names the LUN actor's door: the address embedders send their own tasks
// to (target.Service.LUNActor hands it out), the LUN actor's id with "/embed"
// appended. Tasks from the network come straight to the LUN actor, already checked
// by their connection (a reply address, a CDB, Data-Out collected up to the
// expected length); an embedder's task has no connection, so the door makes those
// checks once, in the embedder's goroutine and off the data path, and hands what
// passes to the LUN actor's mailbox. A task that fails them never reaches the LUN:
// no counter counts it, and a task without a reply address cannot leave an IO
// worker with an answer it has nowhere to send.
const DoorName = "embed"

// door is the embedders' entry to one LUN: a protoactor process (no mailbox, no
// goroutine of its own) registered beside the LUN actor.
type door struct {
	system    *actor.ActorSystem
	lun       *actor.PID
	log       hclog.Logger
	blockSize uint32
	// owner is the LUN's device model (made anew each time a LUN is opened), to
	// tell this LUN's door from that of a LUN of the same name that was removed
	// and whose actor's last message (Stopped) may come after the new one opened
	// its door. A rebuild of the device model (recover.go) moves it to the new
	// one (doorRebuilt); only the LUN actor reads it after OpenDoor.
	owner atomic.Pointer[scsidev.Device]
}

// OpenDoor registers the door of the LUN actor lun (serving cfg, as given to Props)
// and returns its PID, replacing the door of an earlier LUN of the same name; it is
// removed when the LUN actor stops (closeDoor).
func OpenDoor(system *actor.ActorSystem, lun *actor.PID, cfg Config) *actor.PID {
	log := cfg.Log
	if log == nil {
		log = hclog.NewNullLogger()
	}
	var bs uint32
	if cfg.Device != nil {
		bs = cfg.Device.BlockSize()
	}
	id := doorID(lun)
	pid := actor.NewPID(system.Address(), id)
	if p, ok := system.ProcessRegistry.GetLocal(id); ok {
		if _, old := p.(*door); old {
			system.ProcessRegistry.Remove(pid)
		}
	}
	d := &door{system: system, lun: lun, log: log, blockSize: bs}
	d.owner.Store(cfg.Device)
	system.ProcessRegistry.Add(d, id)
	return pid
}

// doorID is the door's id for the LUN actor lun.
func doorID(lun *actor.PID) string { return lun.Id + "/" + DoorName }

// closeDoor unregisters the LUN actor's door, unless a new LUN of the same name
// has opened its own meanwhile.
func (l *lunActor) closeDoor(ctx actor.Context) {
	reg, id := ctx.ActorSystem().ProcessRegistry, doorID(ctx.Self())
	if p, ok := reg.GetLocal(id); ok {
		if d, ok := p.(*door); ok && d.owner.Load() == l.cfg.Device {
			reg.Remove(actor.NewPID(ctx.Self().Address, id))
		}
	}
}

// doorRebuilt moves the LUN actor's door from the device model old to the one a
// rebuild made (recover.go), so that closeDoor still finds the door its own when
// the actor stops: otherwise the door of a removed LUN stays registered and an
// embedder's tasks go to a stopped actor. A door a newer LUN of the same name
// opened is not this LUN's and keeps its owner.
func (l *lunActor) doorRebuilt(ctx actor.Context, old *scsidev.Device) {
	if p, ok := ctx.ActorSystem().ProcessRegistry.GetLocal(doorID(ctx.Self())); ok {
		if d, ok := p.(*door); ok {
			d.owner.CompareAndSwap(old, l.cfg.Device)
		}
	}
}

// SendUserMessage checks an embedder's task and hands it, or any other message, to
// the LUN actor.
func (d *door) SendUserMessage(_ *actor.PID, message any) {
	if t, ok := actor.UnwrapEnvelopeMessage(message).(*pb.ScsiTask); ok {
		if what := d.malformed(t); what != "" {
			d.refuse(t, what)
			return
		}
	}
	p, _ := d.system.ProcessRegistry.Get(d.lun)
	p.SendUserMessage(d.lun, message)
}

// SendSystemMessage passes a system message (a watch, a stop) on to the LUN actor.
func (d *door) SendSystemMessage(_ *actor.PID, message any) {
	p, _ := d.system.ProcessRegistry.Get(d.lun)
	p.SendSystemMessage(d.lun, message)
}

// Stop does nothing: the door lives as long as its LUN actor.
func (d *door) Stop(*actor.PID) {}

// refuse logs why t is refused and answers it, if it can be answered.
func (d *door) refuse(t *pb.ScsiTask, what string) {
	d.log.Warn("embedder's task refused", "what", what, "nexus", fmt.Sprintf("%q", t.Nexus),
		"itt", fmt.Sprintf("0x%x", t.Itt))
	if t.ReplyTo == nil {
		return
	}
	se := scsi.InvalidFieldInCommandIU()
	if len(t.Cdb) == 0 {
		se = scsi.InvalidOpcode()
	}
	d.system.Root.Send(t.ReplyTo.PID(), pb.CheckCondition(t.Itt, se))
}

// malformed names what is wrong with t, or is "".
func (d *door) malformed(t *pb.ScsiTask) string {
	if t.ReplyTo == nil {
		return "no reply_to"
	}
	if len(t.Cdb) == 0 {
		return "no cdb"
	}
	if !t.Write {
		return ""
	}
	n := uint64(len(t.DataOut))
	for _, p := range t.DataOutParts {
		n += uint64(len(p))
	}
	if n != uint64(t.ExpectedLength) {
		return fmt.Sprintf("data_out of %d bytes for expected_length %d", n, t.ExpectedLength)
	}
	switch t.Cdb[0] {
	case scsi.OpWrite6, scsi.OpWrite10, scsi.OpWrite12, scsi.OpWrite16,
		scsi.OpWriteAndVerify10, scsi.OpWriteAndVerify12, scsi.OpWriteAndVerify16:
		rw, err := scsi.ParseRW(t.Cdb)
		if err != nil || d.blockSize == 0 {
			return "" // the device model answers the CDB's own error
		}
		if want := uint64(rw.Blocks) * uint64(d.blockSize); n != want {
			return fmt.Sprintf("data_out of %d bytes for a write of %d blocks (%d bytes)", n, rw.Blocks, want)
		}
	}
	return ""
}
