package lun

import "github.com/atgt/atgt/messages/scsi"

// transferLength is the number of bytes a READ, WRITE, VERIFY or WRITE AND VERIFY CDB
// asks to move, which the connection compares with the iSCSI expected data transfer
// length to report residual overflow or underflow (RFC 7143 11.4.5). ok is false for
// other commands, whose transfer is the data they return.
func transferLength(cdb []byte, blockSize uint32) (n uint32, ok bool) {
	if len(cdb) == 0 {
		return 0, false
	}
	switch scsi.Commands[cdb[0]].Dir {
	case scsi.DirRead, scsi.DirWrite:
	default:
		return 0, false
	}
	rw, err := scsi.ParseRW(cdb)
	if err != nil {
		return 0, false
	}
	switch cdb[0] {
	case scsi.OpVerify10, scsi.OpVerify12, scsi.OpVerify16:
		if rw.BytChk == 0 {
			return 0, true
		}
	}
	return uint32(min(uint64(rw.Blocks)*uint64(blockSize), 1<<32-1)), true
}
