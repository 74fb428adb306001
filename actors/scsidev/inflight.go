package scsidev

import (
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/scsi"
)

// A LUN actor that fails rebuilds its device model from the config (the LUN's
// recover.go), but the IO its workers hold goes on, and reports back with the
// tokens the old device gave it. The pending table and the token counter describe
// that IO, which a rebuild cannot know better, so the new device takes them over
// (TakePending): an old IO's token then settles that IO, never one the new device
// planned, and what waits for it (a copy's status, a SANITIZE, a mode or
// reservation save's effect) is not lost. The IO of the command the actor failed
// on never runs; AbandonPlanned ends what waits for it.

// TakePending takes over from old, the device model a LUN actor failed with, the
// state of the IO still in flight: the pending table and the token counter, the
// status of the copies still running (RECEIVE COPY STATUS), and the SANITIZE in
// progress, which a reset suspends and resumes rather than ends (SBC-4 4.11.1).
// A failed SANITIZE's failure mode is kept too: the medium is half overwritten, and
// only a SANITIZE ends that mode (SBC-4 4.11.3). The mode save sequence goes on
// from old's, so that no new save can be taken for one still being written.
// The copies old had finished are not taken: a reset discards their held status.
func (d *Device) TakePending(old *Device) {
	if old == nil || old == d {
		return
	}
	d.pending, d.nextToken, d.planned = old.pending, old.nextToken, old.nextToken
	old.pending = make(map[uint64]pendingIO)
	for _, p := range d.pending {
		if p.kind == pb.IoKind_IO_KIND_SANITIZE_OVERWRITE || p.kind == pb.IoKind_IO_KIND_SANITIZE_ERASE {
			d.sanitizing = true
		}
	}
	d.sanitizeFailed = d.sanitizeFailed || old.sanitizeFailed
	d.saveSeq = max(d.saveSeq, old.saveSeq)
	for nexus, ids := range old.copies {
		for id, st := range ids {
			if st.status != copyRunning {
				continue
			}
			if d.copies[nexus] == nil {
				d.copies[nexus] = make(map[byte]*copyState)
			}
			d.copies[nexus][id] = st
		}
	}
}

// AbandonPlanned ends what waits for the IO the last Execute planned, which never
// runs: the LUN actor failed before a worker had it, and answered the command
// CHECK CONDITION, HARDWARE ERROR. A copy ends failed with nothing processed; a
// SANITIZE never started, so the medium is neither being sanitized nor in the
// failure mode; a mode or reservation save never happened.
func (d *Device) AbandonPlanned() {
	for token := d.planned + 1; token <= d.nextToken; token++ {
		p, found := d.pending[token]
		if !found {
			continue
		}
		if p.kind == pb.IoKind_IO_KIND_SANITIZE_OVERWRITE || p.kind == pb.IoKind_IO_KIND_SANITIZE_ERASE {
			delete(d.pending, token)
			d.sanitizing = false
			continue
		}
		d.IODone(token, scsi.InternalTargetFailure())
	}
	d.planned = d.nextToken
}
