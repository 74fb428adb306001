package lun

import (
	"github.com/asynkron/protoactor-go/actor"

	"github.com/atgt/atgt/actors/reservation"
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/scsi"
)

// reserve runs the checks that come before the device model: a pending unit attention,
// then reservation commands and reservation conflicts (SPC-4 5.13). It reports whether
// it answered the task.
func (l *lunActor) reserve(ctx actor.Context, t *pb.ScsiTask) bool {
	table := l.cfg.Reservations
	if table == nil || len(t.Cdb) == 0 {
		return false
	}
	if ua := l.cfg.Device.TakeUnitAttention(t.Nexus, t.Cdb[0]); ua != nil {
		ctx.Send(t.ReplyTo.PID(), &pb.ScsiCompletion{
			Itt: t.Itt, Status: uint32(scsi.StatusCheckCondition), Sense: scsi.AppendSense(nil, ua),
		})
		return true
	}
	n := reservation.Nexus{ID: t.Nexus}
	out, handled := table.Execute(n, t.Cdb, t.DataOut)
	if !handled {
		if table.Check(n, t.Cdb) {
			ctx.Send(t.ReplyTo.PID(), &pb.ScsiCompletion{Itt: t.Itt, Status: uint32(scsi.StatusReservationConflict)})
			return true
		}
		return false
	}
	for _, ua := range out.UAs {
		l.cfg.Device.AddUnitAttention(ua.Nexus, ua.Sense)
	}
	answer := &pb.ScsiCompletion{Itt: t.Itt, Status: uint32(out.Status), Sense: out.Sense, DataIn: out.Data,
		TransferLength: uint32(len(out.Data))}
	if out.Persist != nil && l.cfg.StatePath != "" {
		// The state must be on disk before the initiator hears of it; the file write
		// is blocking work, so an IO worker does it and sends the answer.
		t.DataOut = out.Persist
		l.count()
		l.toWorker(ctx, &pb.IoRequest{Task: t, Kind: pb.IoKind_IO_KIND_PERSIST_STATE, StatePath: l.cfg.StatePath, Answer: answer})
		return true
	}
	ctx.Send(t.ReplyTo.PID(), answer)
	return true
}
