package lun

import (
	"github.com/asynkron/protoactor-go/actor"

	pb "github.com/atgt/atgt/messages/atgtv1"
)

// A PERSISTENT RESERVE OUT that changes reservations while APTPL is in effect
// (or turns it on or off) changes the LUN's reservation table at once, and an IO
// worker writes the table's snapshot before the command is answered. The change
// stands only if that save succeeds (reservation.Table.Saved): a save that fails
// is answered CHECK CONDITION, HARDWARE ERROR, INTERNAL TARGET FAILURE and the
// table goes back to its state before the command, with no unit attention
// raised (scsidev.Device.IODone). So that nothing is decided on a change that
// may yet be undone, and going back loses no other change, the save is a barrier
// of the task set, which HEAD OF QUEUE tasks respect too (ordering.go): every
// later task waits until it has ended. The worker reports the save's end to the
// LUN before it answers the command (the IO carries a token), so the initiator's
// next command finds the table as its answer said. An abandoned save (ABORT
// TASK, ioTimeout) ends as a failed one.
//
// An abandoned save's call may still complete, and land the snapshot of the
// change that was undone in the state file, which the next start would load.
// So when it returns (lateReturn) the LUN writes the table's snapshot again if
// the table differs from what that call wrote (reservation.Table.Resave): a new
// snapshot, numbered above every earlier one, so no older save still in flight
// can overwrite it (WriteStateFile keeps the newer), and a newer one already
// written is not overwritten by it. It is taken only once no change is unsaved,
// since the save in flight decides what stands, and it answers no initiator
// and holds no task back: it runs as background work, as a SANITIZE with IMMED
// does (ordering.go). Until it is written, the file may hold the undone change
// (README, "Durability"); a re-save that fails is tried again (prresave.go).

// reservationSaved reports the end of io to the reservation table if io is a
// reservation change's APTPL save: the change stands only if ok.
func (l *lunActor) reservationSaved(sc actor.SenderContext, io *pb.IoRequest, ok bool) {
	if io.Kind == pb.IoKind_IO_KIND_PERSIST_RESERVATIONS && l.cfg.ClusterPR == nil {
		l.cfg.Reservations.Saved(ok)
		if ok {
			l.saveWorked()
		}
		l.resaveIfDue(sc)
		sc.Send(l.self, &drained{}) // the task set waits on Unsaved too (pump)
	}
}
