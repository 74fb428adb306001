package scsi

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// SenseError is a SCSI error condition as the device server reports it: the
// sense key, additional sense code and qualifier, and the optional
// information and sense-key-specific fields. It implements error so command
// emulation can return it through ordinary Go error paths and the LUN can
// recover it with errors.As.
type SenseError struct {
	Key, ASC, ASCQ uint8
	// Info is the INFORMATION field (e.g. the miscompare offset); it is
	// reported only when InfoValid is set.
	Info      uint64
	InfoValid bool
	// CmdInfo is the COMMAND-SPECIFIC INFORMATION field: an EXTENDED COPY's
	// COPY ABORTED holds the number of the segment that failed in its low two
	// bytes (SPC-5 5.17.7.4, as in SPC-4).
	CmdInfo uint32
	// SKSV marks the sense-key-specific field pointer below as valid.
	SKSV bool
	// CD is set when FieldPointer points into the CDB, clear when it
	// points into the parameter list.
	CD bool
	// SD is COPY ABORTED's segment pointer flag (SPC-4 4.5.2.4.5): set when
	// FieldPointer counts from the start of the failed segment descriptor,
	// clear when from the start of the parameter list.
	SD bool
	// BPV marks BitPointer as valid.
	BPV          bool
	BitPointer   uint8
	FieldPointer uint16
}

// Error describes the condition for logs; the wire form is AppendSense.
func (e *SenseError) Error() string {
	return fmt.Sprintf("scsi sense key 0x%x asc/ascq 0x%02x/0x%02x", e.Key, e.ASC, e.ASCQ)
}

// FixedSenseLen is the length of the fixed-format sense data AppendSense
// writes (SPC-4 4.5.3, additional sense length 10).
const FixedSenseLen = 18

// AppendSense appends e as fixed-format current sense data (response code
// 0x70) to dst. It is the one place sense bytes are produced, so every
// command reports errors identically. A nil e appends NO SENSE.
func AppendSense(dst []byte, e *SenseError) []byte {
	var b [FixedSenseLen]byte
	b[0] = 0x70
	if e == nil {
		e = &SenseError{}
	}
	// The fixed format has a 4-byte INFORMATION field; larger values
	// cannot be reported there, so VALID stays clear for them.
	if e.InfoValid && e.Info <= 0xFFFFFFFF {
		b[0] |= 0x80
		b[3] = byte(e.Info >> 24)
		b[4] = byte(e.Info >> 16)
		b[5] = byte(e.Info >> 8)
		b[6] = byte(e.Info)
	}
	b[2] = e.Key & 0x0F
	b[7] = FixedSenseLen - 8
	b[8] = byte(e.CmdInfo >> 24)
	b[9] = byte(e.CmdInfo >> 16)
	b[10] = byte(e.CmdInfo >> 8)
	b[11] = byte(e.CmdInfo)
	b[12] = e.ASC
	b[13] = e.ASCQ
	if e.SKSV {
		b[15] = 0x80
		if e.CD {
			b[15] |= 0x40
		}
		if e.SD {
			b[15] |= 0x20
		}
		if e.BPV {
			b[15] |= 0x08 | (e.BitPointer & 0x07)
		}
		b[16] = byte(e.FieldPointer >> 8)
		b[17] = byte(e.FieldPointer)
	}
	return append(dst, b[:]...)
}

// ParseSense is AppendSense read back: the fields of current or deferred
// fixed-format sense data; ok is false for data too short or of another format.
// It lets sense that travelled as bytes (a worker's answer, a copy's planned
// abort) be handled as the *SenseError it was.
func ParseSense(b []byte) (e *SenseError, ok bool) {
	if len(b) < FixedSenseLen || b[0]&0x7E != 0x70 {
		return nil, false
	}
	e = &SenseError{Key: b[2] & 0x0F, ASC: b[12], ASCQ: b[13], CmdInfo: binary.BigEndian.Uint32(b[8:12])}
	if b[0]&0x80 != 0 {
		e.Info, e.InfoValid = uint64(binary.BigEndian.Uint32(b[3:7])), true
	}
	if b[15]&0x80 != 0 {
		e.SKSV, e.CD, e.SD, e.BPV = true, b[15]&0x40 != 0, b[15]&0x20 != 0, b[15]&0x08 != 0
		if e.BPV {
			e.BitPointer = b[15] & 0x07
		}
		e.FieldPointer = binary.BigEndian.Uint16(b[16:18])
	}
	return e, true
}

// SenseFromError turns any error into sense data: a *SenseError anywhere in
// the chain is used as is, anything else is an internal target failure, so
// that no error ever reaches the initiator as GOOD or as a dropped task.
func SenseFromError(err error) *SenseError {
	var se *SenseError
	if errors.As(err, &se) && se != nil {
		return se
	}
	return InternalTargetFailure()
}
