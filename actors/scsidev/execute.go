package scsidev

import (
	"github.com/atgt/atgt/actors/reservation"
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/scsi"
)

// Execute answers one command from r.Nexus. It is the one place the checks
// that precede a command are made, in the order the standards give them, so
// that a command meeting several conditions always reports the same one:
//
//  1. NOT READY: while a SANITIZE runs, only INQUIRY, REPORT LUNS and
//     REQUEST SENSE run (SBC-3 4.11); a pending unit attention stays pending.
//  2. A pending unit attention of the nexus: the command ends in CHECK
//     CONDITION with it, unless it is one that runs despite one (SAM-5 5.14),
//     or a copy manager's command on the nexus's behalf (Request.CopyManager):
//     the attention stays for the initiator's own next command.
//  3. Reservations (SPC-4 5.13), when rt is not nil: a reservation command
//     (RESERVE, RELEASE, PERSISTENT RESERVE IN/OUT) is run by rt; any other
//     command that a reservation of another nexus excludes ends in
//     RESERVATION CONFLICT.
//  4. The command itself (command): opcode, CDB, emulation.
//
// The result is either final (IO.Kind unspecified) or an IO plan to perform
// and finish with CompleteIO. A command ended by steps 1 to 3 comes back
// Refused.
func (d *Device) Execute(r *Request, rt *reservation.Table) Result {
	d.planned = d.nextToken
	if r == nil || len(r.CDB) == 0 {
		return checkCondition(scsi.InvalidOpcode())
	}
	op := r.CDB[0]
	if se := d.notReady(op); se != nil {
		return refused(checkCondition(se))
	}
	if !r.CopyManager {
		if ua := d.takeUnitAttention(r.Nexus, scsi.Commands[op].AllowedWithUA); ua != nil {
			return refused(checkCondition(ua))
		}
	}
	// After the unit attention: ASYMMETRIC ACCESS STATE CHANGED, which comes
	// with the change to unavailable, tells the initiator to look at the states.
	if se := d.unavailable(r.CDB); se != nil {
		return refused(checkCondition(se))
	}
	if rt != nil {
		// The port the command came through, as VPD page 0x83 reports it
		// (a port group's id), for READ FULL STATUS and REGISTER.
		n := reservation.Nexus{ID: r.Nexus, RelativeTargetPort: d.cfg.RelativePortID}
		if out, handled := rt.Execute(n, r.CDB, r.DataOut); handled {
			return d.reserved(out)
		}
		if rt.Check(n, r.CDB) {
			return refused(Result{Status: scsi.StatusReservationConflict})
		}
	}
	res := d.command(op, r)
	if op == scsi.OpReportLUNs && res.Status == scsi.StatusGood {
		// The initiator learns the new inventory: SPC-4 6.33 has REPORT LUNS clear
		// REPORTED LUNS DATA HAS CHANGED; one that failed reported nothing.
		d.dropUnitAttention(r.Nexus, scsi.ReportedLUNsChanged())
	}
	return res
}

// refused marks res as the answer of a check that ended the command before it ran.
func refused(res Result) Result {
	res.Refused = true
	return res
}

// reserved turns the outcome of a reservation command into a result: the unit
// attentions it raises are established now, and a state snapshot that APTPL
// makes survive a restart is an IO plan, written before the command is answered;
// the unit attentions of such a change wait for the save (IODone), since a
// change whose save fails does not happen (reservation.Table.Saved).
func (d *Device) reserved(out reservation.Outcome) Result {
	res := Result{Status: out.Status, Sense: out.Sense, Data: out.Data}
	if out.Persist != nil {
		token := d.track(pendingIO{kind: pb.IoKind_IO_KIND_PERSIST_RESERVATIONS, uas: out.UAs})
		res.IO = IO{Kind: pb.IoKind_IO_KIND_PERSIST_RESERVATIONS, Data: out.Persist, Token: token}
		return res
	}
	for _, ua := range out.UAs {
		d.AddUnitAttention(ua.Nexus, ua.Sense)
	}
	if out.Cluster {
		// A cluster cache's PERSISTENT RESERVE OUT goes to the LUN's
		// cluster store with its parameter list (Data nil keeps it).
		res.IO = IO{Kind: pb.IoKind_IO_KIND_PERSIST_RESERVATIONS, Data: out.Persist}
	}
	return res
}
