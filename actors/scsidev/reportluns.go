package scsidev

import (
	"encoding/binary"
	"sort"

	"github.com/atgt/atgt/messages/scsi"
)

// reportLUNs implements REPORT LUNS (SPC-4 6.33) for the target's LUN
// inventory. There are no well-known logical units, so SELECT REPORT 01h
// returns an empty list.
func (d *Device) reportLUNs(cdb []byte) (Result, error) {
	alloc := binary.BigEndian.Uint32(cdb[6:10])
	if alloc < 16 {
		return Result{}, scsi.InvalidFieldInCDB(6, -1)
	}
	var luns []uint64
	switch cdb[2] {
	case 0x00, 0x02:
		if d.cfg.ListLUNs != nil {
			luns = append(luns, d.cfg.ListLUNs()...)
		} else {
			luns = []uint64{d.cfg.LUN}
		}
	case 0x01:
	default:
		return Result{}, scsi.InvalidFieldInCDB(2, -1)
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
