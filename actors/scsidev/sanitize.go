package scsidev

import (
	"encoding/binary"

	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/scsi"
)

// sanitizeAllowed reports whether service action sa of SANITIZE is
// implemented by this LU: only when the configuration allows SANITIZE at all,
// and BLOCK ERASE only on a thin LU whose deallocated blocks read as zeros
// (LBPRZ: a file or memory). It deallocates every block, which needs logical
// block provisioning, and once it completes the old data must not be readable
// (SBC-4 4.11); a block device's discard promises no such thing (an SSD without
// deterministic read-zero after TRIM, a RAID layer that drops discards), so
// there BLOCK ERASE is refused and SANITIZE OVERWRITE is the way to erase.
// CRYPTO ERASE is never: the medium is not encrypted, so there is no key to
// change.
func (d *Device) sanitizeAllowed(sa uint16) bool {
	if !d.cfg.AllowSanitize {
		return false
	}
	switch sa {
	case scsi.SASanitizeOverwrite, scsi.SASanitizeExitFailureMode:
		return true
	case scsi.SASanitizeBlockErase:
		return d.cfg.Thin && d.cfg.UnmapReadsZero
	}
	return false
}

// notReady returns NOT READY, SANITIZE IN PROGRESS for a command with opcode
// op while a SANITIZE runs, nil otherwise. Only INQUIRY, REPORT LUNS and
// REQUEST SENSE run meanwhile (SBC-3 4.11). Execute asks before anything
// else: the sanitize is reported ahead of a unit attention, which stays
// pending until the medium is ready again.
func (d *Device) notReady(op byte) *scsi.SenseError {
	if !d.sanitizing {
		return nil
	}
	switch op {
	case scsi.OpInquiry, scsi.OpReportLUNs, scsi.OpRequestSense:
		return nil
	}
	return d.sanitizeInProgress()
}

// SetSanitizeProgress gives the device the running SANITIZE's progress in
// 65536ths, which the IO worker doing it publishes.
func (d *Device) SetSanitizeProgress(f func() uint16) { d.progress = f }

// sanitizeInProgress is NOT READY, SANITIZE IN PROGRESS with the progress
// indication SBC-4 has REQUEST SENSE (and the refused commands) report.
func (d *Device) sanitizeInProgress() *scsi.SenseError {
	var p uint16
	if d.progress != nil {
		p = d.progress()
	}
	return scsi.SanitizeInProgressAt(p)
}

// mediumAccess reports a medium access command (SBC-4): one that reads or
// writes the medium, whatever its length. After a failed SANITIZE these are
// answered MEDIUM ERROR, SANITIZE COMMAND FAILED even when they would transfer
// nothing (a READ of 0 blocks, a VERIFY with BYTCHK=0).
func mediumAccess(cdb []byte) bool {
	switch cdb[0] {
	case scsi.OpRead6, scsi.OpRead10, scsi.OpRead12, scsi.OpRead16,
		scsi.OpWrite6, scsi.OpWrite10, scsi.OpWrite12, scsi.OpWrite16,
		scsi.OpWriteAndVerify10, scsi.OpWriteAndVerify12, scsi.OpWriteAndVerify16,
		scsi.OpVerify10, scsi.OpVerify12, scsi.OpVerify16,
		scsi.OpSynchronizeCache10, scsi.OpSynchronizeCache16,
		scsi.OpWriteSame10, scsi.OpWriteSame16, scsi.OpUnmap,
		scsi.OpCompareAndWrite, scsi.OpORWrite, scsi.OpPrefetch10, scsi.OpPrefetch16,
		scsi.OpExtendedCopy:
		return true
	case scsi.OpServiceActionIn16:
		return cdb[1]&0x1F == scsi.SAGetLBAStatus
	}
	return false
}

// sanitize implements SANITIZE (SBC-3 5.20): OVERWRITE writes a pattern over
// every block, BLOCK ERASE deallocates every block, EXIT FAILURE MODE leaves
// the failure mode of a failed SANITIZE. The erase itself is an IO plan; the
// device is NOT READY until the LUN reports it done (IODone). With IMMED the
// command is answered at once and the erase goes on in the background.
func (d *Device) sanitize(cdb []byte, r *Request) (Result, error) {
	sa := cdb[1] & 0x1F
	if !d.cfg.AllowSanitize {
		return Result{}, scsi.InvalidOpcode()
	}
	if cdb[1]&0x40 != 0 {
		return Result{}, scsi.InvalidFieldInCDB(1, 6)
	}
	for i := 2; i <= 6; i++ {
		if cdb[i] != 0 {
			return Result{}, scsi.InvalidFieldInCDB(i, -1)
		}
	}
	if !d.sanitizeAllowed(uint16(sa)) {
		return Result{}, scsi.InvalidFieldInCDB(1, 4)
	}
	immed := cdb[1]&0x80 != 0
	plen := int(binary.BigEndian.Uint16(cdb[7:9]))
	bs := int(d.cfg.BlockSize)
	switch sa {
	case scsi.SASanitizeOverwrite:
		// The parameter list is a 4-byte header and a pattern of at most
		// one block.
		if plen <= 4 || plen > bs+4 {
			return Result{}, scsi.InvalidFieldInCDB(7, -1)
		}
	default:
		if plen != 0 {
			return Result{}, scsi.InvalidFieldInCDB(7, -1)
		}
	}
	if se, ok := d.writeProtected(); ok {
		return Result{}, se
	}
	if sa == scsi.SASanitizeExitFailureMode {
		d.sanitizeFailed = false
		return good(nil), nil
	}
	io := IO{Offset: 0, Length: int64(d.cfg.Blocks) * int64(bs), Immediate: immed}
	if sa == scsi.SASanitizeOverwrite {
		if len(r.DataOut) < plen {
			return Result{}, scsi.ParameterListLengthError()
		}
		block, passes, invert, err := overwritePattern(r.DataOut[:plen], bs)
		if err != nil {
			return Result{}, err
		}
		io.Kind, io.Data, io.Passes, io.Invert, io.Rate = pb.IoKind_IO_KIND_SANITIZE_OVERWRITE, block, passes, invert, d.cfg.SanitizeBytesPerSecond
	} else {
		io.Kind = pb.IoKind_IO_KIND_SANITIZE_ERASE
	}
	io.Token = d.track(pendingIO{kind: io.Kind, nexus: r.Nexus})
	d.sanitizing = true
	return Result{Status: scsi.StatusGood, IO: io}, nil
}

// overwritePattern checks the OVERWRITE parameter list (SBC-3 5.20.3) and
// returns one block filled with its initialization pattern, the number of
// passes and whether to invert the pattern between them.
func overwritePattern(p []byte, blockSize int) (block []byte, passes uint32, invert bool, err error) {
	invert = p[0]&0x80 != 0
	if p[0]&0x60 != 0 { // TEST: vendor specific, none implemented
		return nil, 0, false, scsi.InvalidFieldInParamList(0, 6)
	}
	passes = uint32(p[0] & 0x1F)
	if passes == 0 {
		return nil, 0, false, scsi.InvalidFieldInParamList(0, 4)
	}
	n := int(binary.BigEndian.Uint16(p[2:4]))
	if n == 0 || n > blockSize || n != len(p)-4 {
		return nil, 0, false, scsi.InvalidFieldInParamList(2, -1)
	}
	pattern := p[4 : 4+n]
	block = make([]byte, blockSize)
	for i := 0; i < blockSize; i += n {
		copy(block[i:], pattern)
	}
	return block, passes, invert, nil
}
