package scsidev

import (
	"encoding/binary"

	"github.com/atgt/atgt/messages/scsi"
)

// lastLBA is the address of the last logical block (0 for an empty LU).
func (d *Device) lastLBA() uint64 {
	if d.cfg.Blocks == 0 {
		return 0
	}
	return d.cfg.Blocks - 1
}

// readCapacity10 implements READ CAPACITY(10) (SBC-3 5.15). A capacity that
// does not fit reports 0xFFFFFFFF so the initiator switches to the 16-byte
// form.
func (d *Device) readCapacity10(cdb []byte) (Result, error) {
	pmi := cdb[8]&0x01 != 0
	if !pmi && binary.BigEndian.Uint32(cdb[2:6]) != 0 {
		return Result{}, scsi.InvalidFieldInCDB(2, -1)
	}
	b := make([]byte, 8)
	last := d.lastLBA()
	if last > 0xFFFFFFFF {
		last = 0xFFFFFFFF
	}
	binary.BigEndian.PutUint32(b[0:4], uint32(last))
	binary.BigEndian.PutUint32(b[4:8], d.cfg.BlockSize)
	return good(b), nil
}

// readCapacity16 implements READ CAPACITY(16) (SBC-3 5.16): no protection
// information, one logical block per physical block, and LBPME/LBPRZ as the
// LU is provisioned, matching VPD page 0xB2.
func (d *Device) readCapacity16(cdb []byte) (Result, error) {
	alloc := binary.BigEndian.Uint32(cdb[10:14])
	b := make([]byte, 32)
	binary.BigEndian.PutUint64(b[0:8], d.lastLBA())
	binary.BigEndian.PutUint32(b[8:12], d.cfg.BlockSize)
	if d.cfg.Thin {
		b[14] = 0x80 // LBPME
		if d.cfg.UnmapReadsZero {
			b[14] |= 0x40 // LBPRZ
		}
	}
	return good(truncate(b, alloc)), nil
}
