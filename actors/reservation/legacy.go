package reservation

import "github.com/atgt/atgt/messages/scsi"

// RESERVE(6)/(10) and RELEASE(6)/(10) with SPC-2 semantics. Check has
// already refused them where they conflict: from a non-member while
// persistent reservation state exists (SPC-4 5.13.3), or RESERVE while
// another I_T nexus holds the legacy reservation.

// legacyCDBError rejects the third-party forms, which this target does not
// implement: 3RDPTY and LONGID of the 10-byte CDBs, EXTENT of RESERVE(6).
func legacyCDBError(cdb []byte) *scsi.SenseError {
	switch cdb[0] {
	case scsi.OpReserve10, scsi.OpRelease10:
		if cdb[1]&0x10 != 0 {
			return scsi.InvalidFieldInCDB(1, 4)
		}
		if cdb[1]&0x02 != 0 {
			return scsi.InvalidFieldInCDB(1, 1)
		}
	case scsi.OpReserve6:
		if cdb[1]&0x01 != 0 {
			return scsi.InvalidFieldInCDB(1, 0)
		}
	}
	return nil
}

func (t *Table) reserveLegacy(n Nexus, cdb []byte) Outcome {
	if e := legacyCDBError(cdb); e != nil {
		return checkCondition(e)
	}
	if t.hasPR() {
		// A member of the persistent reservation: GOOD, nothing changes
		// (SPC-4 5.13.3).
		return good(nil)
	}
	t.legacy = n.ID
	return good(nil)
}

func (t *Table) releaseLegacy(n Nexus, cdb []byte) Outcome {
	if e := legacyCDBError(cdb); e != nil {
		return checkCondition(e)
	}
	// Releasing a reservation one does not hold is a no-op (SPC-2 7.17).
	if !t.hasPR() && t.legacy == n.ID {
		t.legacy = ""
	}
	return good(nil)
}
