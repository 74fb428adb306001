package scsidev

import (
	"github.com/atgt/atgt/actors/reservation"
	pb "github.com/atgt/atgt/messages/atgtv1"
)

// pendingIO is device state that waits for an IO's outcome: the status of an
// EXTENDED COPY, the end of a SANITIZE, a MODE SELECT's saved values, or the
// unit attentions of a reservation change that APTPL makes persistent.
type pendingIO struct {
	kind  pb.IoKind
	nexus string
	// copy is the status RECEIVE COPY RESULTS reports, nil when the copy's
	// LIST ID USAGE asked for none.
	copy *copyState
	// modes is what a MODE SELECT with SP=1 applies once saved.
	modes *modeChange
	// uas are the unit attentions a reservation change raises once its APTPL
	// snapshot is saved.
	uas []reservation.UA
}

// track registers p and returns the token the IO carries.
func (d *Device) track(p pendingIO) uint64 {
	d.nextToken++
	d.pending[d.nextToken] = p
	return d.nextToken
}

// IODone records the outcome of the IO planned with token: failure is nil when
// it succeeded, else the error (a *scsi.SenseError as the task was answered,
// when there is one) it failed with. A copy's status becomes final, with how far
// a failed copy got; a SANITIZE ends (and on failure leaves the medium in the
// sanitize failure mode); a saved reservation change raises its unit attentions.
// The LUN calls it when the IO worker reports back, also when the worker failed.
// Unknown tokens are ignored.
func (d *Device) IODone(token uint64, failure error) {
	p, found := d.pending[token]
	if !found {
		return
	}
	delete(d.pending, token)
	switch p.kind {
	case pb.IoKind_IO_KIND_COPY:
		d.copyDone(p, failure)
	case pb.IoKind_IO_KIND_SANITIZE_OVERWRITE, pb.IoKind_IO_KIND_SANITIZE_ERASE:
		d.sanitizing = false
		d.sanitizeFailed = failure != nil
	case pb.IoKind_IO_KIND_SAVE_MODE_PAGES:
		d.modesSaved(p.nexus, p.modes, failure == nil)
	case pb.IoKind_IO_KIND_PERSIST_RESERVATIONS:
		if failure != nil {
			break // the change did not happen: nobody is told of it
		}
		for _, ua := range p.uas {
			d.AddUnitAttention(ua.Nexus, ua.Sense)
		}
	}
}

// NexusLost drops what the device holds for an I_T nexus that ended: its
// pending unit attentions (a nexus that comes back, say a login with the same
// ISID, starts again with POWER ON, RESET, as one met for the first time, and
// no condition raised while it was gone reaches it), and the status of its
// finished copies (SPC-4 discards held data on I_T nexus loss). Copies still
// running keep their state until they finish. So a target whose initiators log
// in again and again holds state only for the nexuses that exist.
func (d *Device) NexusLost(nexus string) {
	d.ForgetNexus(nexus)
	for id, st := range d.copies[nexus] {
		if st.status != copyRunning {
			delete(d.copies[nexus], id)
		}
	}
	if len(d.copies[nexus]) == 0 {
		delete(d.copies, nexus)
	}
}
