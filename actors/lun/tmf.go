package lun

import (
	"github.com/asynkron/protoactor-go/actor"

	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/scsi"
)

// taskManagement applies a task management function's effect on the logical unit and
// answers the connection. Resets establish a unit attention for every I_T nexus,
// including the one that asked (SAM-5 6.3): its next command learns of the reset too.
func (l *lunActor) taskManagement(ctx actor.Context, m *pb.TaskManagement) {
	switch m.Function {
	case pb.TmfFunction_TMF_FUNCTION_LOGICAL_UNIT_RESET:
		l.cfg.Device.AddUnitAttention("", scsi.BusDeviceReset())
		l.resetReservations()
	case pb.TmfFunction_TMF_FUNCTION_TARGET_WARM_RESET, pb.TmfFunction_TMF_FUNCTION_TARGET_COLD_RESET:
		l.cfg.Device.AddUnitAttention("", scsi.PowerOnReset())
		l.resetReservations()
	}
	l.cfg.Log.Info("task management", "function", m.Function.String(), "nexus", m.Nexus)
	ctx.Send(m.ReplyTo.PID(), &pb.TaskManagementDone{Itt: m.Itt, FanOut: m.FanOut})
}

// resetReservations drops a RESERVE(6)/(10) reservation, which a reset ends;
// persistent reservations survive resets (SPC-4 5.13.11).
func (l *lunActor) resetReservations() {
	if l.cfg.Reservations != nil {
		l.cfg.Reservations.Reset()
	}
}
