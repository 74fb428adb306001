// Package lun holds the LUN actor, which owns one logical unit's SCSI state (through a
// scsidev.Device) and hands its disk IO to a supervised pool of IO workers.
package lun

import (
	"fmt"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/go-hclog"

	"github.com/atgt/atgt/actors/scsidev"
	"github.com/atgt/atgt/backend"
	pb "github.com/atgt/atgt/messages/atgtv1"
)

// Config describes one LUN actor.
type Config struct {
	Target  string
	ID      uint64
	Device  *scsidev.Device
	Backend backend.Backend
	Workers int
	Log     hclog.Logger
}

// Props returns the props of a LUN actor. Its children are the IO workers; a worker
// that panics is restarted, and the task it held is answered with CHECK CONDITION by
// the supervisor strategy so that no task hangs.
func Props(cfg Config) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor { return &lunActor{cfg: cfg} },
		actor.WithSupervisor(&workerSupervisor{log: cfg.Log}))
}

type lunActor struct {
	cfg     Config
	workers []*actor.PID
	next    int
}

// Receive handles tasks from the dispatcher.
func (l *lunActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		wp := workerProps(l.cfg.Backend, l.cfg.Log)
		for i := 0; i < l.cfg.Workers; i++ {
			pid, err := ctx.SpawnNamed(wp, fmt.Sprintf("io%d", i))
			if err != nil {
				pid = ctx.Spawn(wp)
			}
			l.workers = append(l.workers, pid)
		}
	case *pb.ScsiTask:
		l.execute(ctx, m)
	}
}

func (l *lunActor) execute(ctx actor.Context, t *pb.ScsiTask) {
	req := &scsidev.Request{CDB: t.Cdb, DataOut: t.DataOut, Nexus: t.Nexus, ExpectedLength: t.ExpectedLength}
	res := l.cfg.Device.Execute(req)
	if l.cfg.Log.IsDebug() {
		l.cfg.Log.Debug("task", "lun", l.cfg.ID, "itt", t.Itt, "cdb", fmt.Sprintf("%x", t.Cdb), "status", res.Status, "io", res.IO.Kind)
	}
	xfer, isRW := transferLength(t.Cdb, l.cfg.Device.BlockSize())
	if res.IO.Kind == scsidev.IONone {
		if !isRW {
			xfer = uint32(len(res.Data))
		}
		ctx.Send(t.ReplyTo.PID(), &pb.ScsiCompletion{
			Itt: t.Itt, Status: uint32(res.Status), Sense: res.Sense, DataIn: res.Data, TransferLength: xfer,
		})
		return
	}
	io := &pb.IoRequest{Task: t, Offset: res.IO.Offset, Length: res.IO.Length, Stable: res.IO.Stable, TransferLength: xfer}
	switch res.IO.Kind {
	case scsidev.IORead:
		io.Kind = pb.IoKind_IO_KIND_READ
	case scsidev.IOWrite:
		io.Kind = pb.IoKind_IO_KIND_WRITE
		t.DataOut = res.IO.Data
	case scsidev.IOSync:
		io.Kind = pb.IoKind_IO_KIND_SYNC
	case scsidev.IOVerify:
		io.Kind = pb.IoKind_IO_KIND_VERIFY
		t.DataOut = res.IO.Data
	}
	w := l.workers[l.next]
	l.next = (l.next + 1) % len(l.workers)
	ctx.Send(w, io)
}
