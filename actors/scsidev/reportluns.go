package scsidev

import (
	"encoding/binary"
	"sort"

	"github.com/atgt/atgt/messages/scsi"
)

// The SELECT REPORT values of REPORT LUNS (SPC-5 6.33, table "SELECT REPORT
// field"); the others are reserved or vendor specific.
const (
	// selectReportLUNs: the logical units, well-known ones left out.
	selectReportLUNs = 0x00
	// selectReportWellKnown: only the well-known logical units.
	selectReportWellKnown = 0x01
	// selectReportAll: every logical unit accessible to the I_T nexus.
	selectReportAll = 0x02
	// selectReportAdministrative: only the administrative logical units (SAM-5
	// conglomerates).
	selectReportAdministrative = 0x10
	// selectReportNotSubsidiary: the administrative logical units and every
	// logical unit that is not a subsidiary one.
	selectReportNotSubsidiary = 0x11
	// selectReportSubsidiaries: the addressed administrative logical unit and its
	// subsidiary logical units.
	selectReportSubsidiaries = 0x12
)

// selectReportField is the byte of the SELECT REPORT field in the CDB.
const selectReportField = 2

// reportLUNs implements REPORT LUNS (SPC-5 6.33) for the target's LUN inventory.
// atgt has no well-known logical units and no LU conglomerates (no administrative
// or subsidiary logical units), so for SELECT REPORT:
//   - 00h, 02h and 11h (administrative LUs and those not subsidiary: every LU
//     here) list the same logical units;
//   - 01h (well-known LUs) and 10h (administrative LUs) answer an empty list, as
//     the standard prescribes when there are none;
//   - 12h asks the addressed LU, which is never an administrative one, for its
//     subsidiaries: ILLEGAL REQUEST, INVALID FIELD IN CDB, as for a command not
//     addressed to an administrative LU;
//   - every other value is reserved (or vendor specific, none used): INVALID
//     FIELD IN CDB pointing at the field.
func (d *Device) reportLUNs(cdb []byte) (Result, error) {
	alloc := binary.BigEndian.Uint32(cdb[6:10])
	if alloc < 16 {
		return Result{}, scsi.InvalidFieldInCDB(6, -1)
	}
	var luns []uint64
	switch cdb[selectReportField] {
	case selectReportLUNs, selectReportAll, selectReportNotSubsidiary:
		if d.cfg.ListLUNs != nil {
			luns = append(luns, d.cfg.ListLUNs()...)
		} else {
			luns = []uint64{d.cfg.LUN}
		}
	case selectReportWellKnown, selectReportAdministrative:
	default: // selectReportSubsidiaries among them
		return Result{}, scsi.InvalidFieldInCDB(selectReportField, -1)
	}
	sort.Slice(luns, func(i, j int) bool { return luns[i] < luns[j] })
	// The LUN LIST LENGTH field is 32 bits; keep within it.
	const maxLUNs = (1<<32 - 8) / 8
	if len(luns) > maxLUNs {
		luns = luns[:maxLUNs]
	}
	b := make([]byte, 8, 8+8*len(luns))
	binary.BigEndian.PutUint32(b[0:4], uint32(8*len(luns)))
	for _, l := range luns {
		var e [8]byte
		binary.BigEndian.PutUint64(e[:], scsi.EncodeLUN(l))
		b = append(b, e[:]...)
	}
	return good(truncate(b, alloc)), nil
}
