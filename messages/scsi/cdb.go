package scsi

import "encoding/binary"

// CDBLength is the length of the CDB of operation code op, from its group
// code (SPC-4 4.2.5.1). It returns 0 for groups whose length the opcode does
// not determine (reserved, variable length and vendor specific).
func CDBLength(op byte) int {
	switch op >> 5 {
	case 0:
		return 6
	case 1, 2:
		return 10
	case 4:
		return 16
	case 5:
		return 12
	}
	return 0
}

// RW is a decoded READ, WRITE, WRITE AND VERIFY or VERIFY CDB.
type RW struct {
	LBA    uint64
	Blocks uint32
	FUA    bool
	DPO    bool
	// BytChk is the BYTCHK field of VERIFY and WRITE AND VERIFY: 0 means
	// check the medium only, 1 compare the data-out buffer with it.
	BytChk uint8
}

// ParseRW decodes the READ/WRITE/VERIFY/WRITE AND VERIFY 6/10/12/16 CDB in
// cdb. It refuses, with INVALID FIELD IN CDB, fields this target does not
// implement: non-zero RDPROTECT/WRPROTECT/VRPROTECT (no protection
// information) and BYTCHK values other than 0 and 1. A READ(6)/WRITE(6)
// transfer length of 0 means 256 blocks (SBC-3 5.10).
func ParseRW(cdb []byte) (RW, error) {
	var rw RW
	if len(cdb) == 0 {
		return rw, InvalidOpcode()
	}
	op := cdb[0]
	n := CDBLength(op)
	if n == 0 || len(cdb) < n {
		return rw, InvalidFieldInCDB(0, -1)
	}
	switch op {
	case OpRead6, OpWrite6:
		rw.LBA = uint64(cdb[1]&0x1F)<<16 | uint64(cdb[2])<<8 | uint64(cdb[3])
		rw.Blocks = uint32(cdb[4])
		if rw.Blocks == 0 {
			rw.Blocks = 256
		}
		return rw, nil
	case OpRead10, OpWrite10, OpVerify10, OpWriteAndVerify10:
		rw.LBA = uint64(binary.BigEndian.Uint32(cdb[2:6]))
		rw.Blocks = uint32(binary.BigEndian.Uint16(cdb[7:9]))
	case OpRead12, OpWrite12, OpVerify12, OpWriteAndVerify12:
		rw.LBA = uint64(binary.BigEndian.Uint32(cdb[2:6]))
		rw.Blocks = binary.BigEndian.Uint32(cdb[6:10])
	case OpRead16, OpWrite16, OpVerify16, OpWriteAndVerify16:
		rw.LBA = binary.BigEndian.Uint64(cdb[2:10])
		rw.Blocks = binary.BigEndian.Uint32(cdb[10:14])
	default:
		return rw, InvalidOpcode()
	}
	// Byte 1 has the same layout for all 10/12/16 byte variants:
	// PROTECT(7:5) DPO(4) FUA(3) ... with BYTCHK in bits 2:1 for VERIFY
	// and WRITE AND VERIFY.
	b1 := cdb[1]
	if b1&0xE0 != 0 {
		return rw, InvalidFieldInCDB(1, 7)
	}
	rw.DPO = b1&0x10 != 0
	switch op {
	case OpVerify10, OpVerify12, OpVerify16:
		rw.BytChk = (b1 >> 1) & 0x03
		if rw.BytChk > 1 {
			return rw, InvalidFieldInCDB(1, 2)
		}
	case OpWriteAndVerify10, OpWriteAndVerify12, OpWriteAndVerify16:
		// BYTCHK is bits 2:1 here too (SBC-4 WRITE AND VERIFY); 10b is reserved.
		rw.BytChk = (b1 >> 1) & 0x03
		if rw.BytChk == 2 {
			return rw, InvalidFieldInCDB(1, 2)
		}
		rw.BytChk &= 0x01
	default:
		rw.FUA = b1&0x08 != 0
	}
	return rw, nil
}
