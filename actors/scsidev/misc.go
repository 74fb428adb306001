package scsidev

import (
	"encoding/binary"

	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/scsi"
)

// prefetch implements PRE-FETCH(10) and PRE-FETCH(16) (SBC-3 5.3-5.4). The
// range is checked; the blocks are not loaded, which SBC-3 allows by
// answering GOOD rather than CONDITION MET (the page cache decides what it
// keeps).
func (d *Device) prefetch(cdb []byte) (Result, error) {
	lba, blocks := lbaRange(cdb, cdb[0] == scsi.OpPrefetch10)
	if !d.inRange(lba, blocks) {
		return Result{}, scsi.LBAOutOfRange()
	}
	return good(nil), nil
}

// preventAllow implements PREVENT ALLOW MEDIUM REMOVAL (SBC-3 5.5): the
// medium is not removable (RMB=0), so every PREVENT value is accepted and
// changes nothing.
func (d *Device) preventAllow(cdb []byte) (Result, error) {
	return good(nil), nil
}

// START STOP UNIT fields (SBC-4 5.25, CDB byte 4).
const (
	startStopStart      = 0x01 // START
	startStopNoFlush    = 0x04 // NO_FLUSH
	startStopPowerShift = 4    // POWER CONDITION, bits 7:4 (0h: START_VALID)
)

// startStopUnit implements START STOP UNIT (SBC-4 5.25). The medium neither
// spins nor ejects, so only one form does anything: a stop (POWER CONDITION
// START_VALID, START=0) without NO_FLUSH writes the cached data to the medium
// first, as SYNCHRONIZE CACHE of the whole medium does, and is answered GOOD
// once it is there (with IMMED too, which allows but does not require an early
// answer). Every other form is answered GOOD at once.
func (d *Device) startStopUnit(cdb []byte) (Result, error) {
	b := cdb[4]
	if b>>startStopPowerShift != 0 || b&startStopStart != 0 || b&startStopNoFlush != 0 {
		return good(nil), nil
	}
	bs := int64(d.cfg.BlockSize)
	return Result{IO: IO{Kind: pb.IoKind_IO_KIND_SYNC, Length: int64(d.cfg.Blocks) * bs, Stable: true}}, nil
}

// readDefectData implements READ DEFECT DATA(10) and (12) (SBC-3 5.12-5.13)
// honestly: the backend has no defects, so both lists are empty. The header
// echoes the requested lists as valid and the requested format.
func (d *Device) readDefectData(cdb []byte) (Result, error) {
	if cdb[0] == scsi.OpReadDefectData10 {
		alloc := uint32(binary.BigEndian.Uint16(cdb[7:9]))
		b := []byte{0, cdb[2] & 0x1F, 0, 0}
		return good(truncate(b, alloc)), nil
	}
	alloc := binary.BigEndian.Uint32(cdb[6:10])
	b := []byte{0, cdb[1] & 0x1F, 0, 0, 0, 0, 0, 0}
	return good(truncate(b, alloc)), nil
}

// lbaRange reads the LOGICAL BLOCK ADDRESS and the block count of a 10-byte CDB
// (32-bit LBA at byte 2, 16-bit count at byte 7) or a 16-byte one (64-bit LBA at byte
// 2, 32-bit count at byte 10), the layout PRE-FETCH and SYNCHRONIZE CACHE share.
func lbaRange(cdb []byte, ten bool) (lba, blocks uint64) {
	if ten {
		return uint64(binary.BigEndian.Uint32(cdb[2:6])), uint64(binary.BigEndian.Uint16(cdb[7:9]))
	}
	return binary.BigEndian.Uint64(cdb[2:10]), uint64(binary.BigEndian.Uint32(cdb[10:14]))
}
