package reservation

import "github.com/atgt/atgt/messages/scsi"

// Execute runs cdb if it is a reservation command (RESERVE and RELEASE 6/10,
// PERSISTENT RESERVE IN and OUT) and reports handled = true; for any other
// command it does nothing and returns handled = false, and the command goes
// on to the device model after Check. param is the data-out
// parameter list as received. Nothing from the initiator can make it panic.
func (t *Table) Execute(n Nexus, cdb []byte, param []byte) (Outcome, bool) {
	if len(cdb) == 0 {
		return Outcome{}, false
	}
	op := cdb[0]
	switch op {
	case scsi.OpReserve6, scsi.OpReserve10, scsi.OpRelease6, scsi.OpRelease10,
		scsi.OpPersistentReserveIn, scsi.OpPersistentReserveOut:
	default:
		return Outcome{}, false
	}
	l := scsi.CDBLength(op)
	if len(cdb) < l {
		return checkCondition(scsi.InvalidFieldInCDB(0, -1)), true
	}
	cdb = cdb[:l]
	// NACA (SAM-5 5.9.1.2): ACA is not implemented, as in scsidev.
	if cdb[l-1]&0x04 != 0 {
		return checkCondition(scsi.InvalidFieldInCDB(l-1, 2)), true
	}
	if t.cl == nil && changes(op) {
		// Kept until the command returns, for Recovered (guard.go).
		t.guard = t.clone()
		out := t.execute(op, n, cdb, param)
		if out.Persist != nil {
			// The change stands only once its snapshot is saved (unsaved.go).
			t.unsaved = t.guard
		}
		t.guard = nil
		return out, true
	}
	return t.execute(op, n, cdb, param), true
}

// execute runs the reservation command op with the checked CDB cdb.
func (t *Table) execute(op byte, n Nexus, cdb []byte, param []byte) Outcome {
	n = t.canon(n)
	if t.cl != nil {
		if out, done := t.clusterCommand(op); done {
			return out
		}
	}
	if t.check(n, cdb) {
		return conflict()
	}
	var out Outcome
	switch op {
	case scsi.OpReserve6, scsi.OpReserve10:
		out = t.reserveLegacy(n, cdb)
	case scsi.OpRelease6, scsi.OpRelease10:
		out = t.releaseLegacy(n, cdb)
	case scsi.OpPersistentReserveIn:
		out = t.persistentReserveIn(cdb)
	default:
		out = t.persistentReserveOut(n, cdb, param)
	}
	if t.cl != nil {
		t.routeUAs(out.UAs)
	}
	if faultAfterChange != nil {
		faultAfterChange(op)
	}
	return out
}

// good is a GOOD outcome with data-in.
func good(data []byte) Outcome {
	return Outcome{Status: scsi.StatusGood, Data: data}
}

// conflict is the RESERVATION CONFLICT outcome; it carries no sense data.
func conflict() Outcome {
	return Outcome{Status: scsi.StatusReservationConflict}
}

// checkCondition is a CHECK CONDITION outcome with sense e.
func checkCondition(e *scsi.SenseError) Outcome {
	return Outcome{Status: scsi.StatusCheckCondition, Sense: scsi.AppendSense(nil, e)}
}
