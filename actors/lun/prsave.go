package lun

import pb "github.com/atgt/atgt/messages/atgtv1"

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

// reservationSaved reports the end of io to the reservation table if io is a
// reservation change's APTPL save: the change stands only if ok.
func (l *lunActor) reservationSaved(io *pb.IoRequest, ok bool) {
	if io.Kind == pb.IoKind_IO_KIND_PERSIST_RESERVATIONS && l.cfg.ClusterPR == nil {
		l.cfg.Reservations.Saved(ok)
	}
}
