package scsi

import "encoding/binary"

// The commands and sense data a copy manager exchanges with the logical units
// an EXTENDED COPY reads and writes (actors/lun/copier.go).

// rw16 field offsets (SBC-3 5.8, 5.35: READ(16), WRITE(16)).
const (
	rw16LBA    = 2
	rw16Blocks = 10
	rw16Len    = 16
)

// ReadWrite16 builds a READ(16) or WRITE(16) CDB (op) of blocks blocks from lba,
// without FUA, DPO or protection: the logical unit's own write cache setting
// decides when the data is durable.
func ReadWrite16(op byte, lba uint64, blocks uint32) []byte {
	cdb := make([]byte, rw16Len)
	cdb[0] = op
	binary.BigEndian.PutUint64(cdb[rw16LBA:], lba)
	binary.BigEndian.PutUint32(cdb[rw16Blocks:], blocks)
	return cdb
}

// Fixed-format sense data offsets (SPC-4 4.5.3), as AppendSense writes them.
const (
	senseKeyOff  = 2
	senseASCOff  = 12
	senseASCQOff = 13
)

// ParseFixedSense reads the sense key and additional sense code of fixed-format
// sense data; ok is false for data too short or of another format.
func ParseFixedSense(b []byte) (key, asc, ascq uint8, ok bool) {
	if len(b) < FixedSenseLen || b[0]&0x7E != 0x70 {
		return 0, 0, 0, false
	}
	return b[senseKeyOff] & 0x0F, b[senseASCOff], b[senseASCQOff], true
}
