package iscsi

import (
	"errors"
	"fmt"
)

// ErrHeaderDigest reports a header whose CRC32C does not match. Nothing in the header
// can be trusted, including the lengths needed to find the next PDU, so the connection
// must be closed (RFC 7143 section 7.8).
var ErrHeaderDigest = errors.New("iscsi: header digest mismatch")

// DataDigestError reports a data segment whose CRC32C does not match. The header was
// good and the whole PDU has been consumed, so the stream is still in step: the caller
// may answer with a Reject (reason RejectDataDigest) and keep reading.
type DataDigestError struct {
	ITT    uint32 // tag of the PDU whose data was corrupt
	Opcode Opcode // its opcode
	Got    uint32 // digest received
	Want   uint32 // digest computed over the received data and padding
}

// Error describes the mismatch.
func (e *DataDigestError) Error() string {
	return fmt.Sprintf("iscsi: data digest mismatch in %v itt=%#x: got %#08x, want %#08x",
		e.Opcode, e.ITT, e.Got, e.Want)
}

// LengthError reports a data segment longer than the connection accepts. The data was
// not read (nor allocated), so the stream cannot be resynchronised: the caller closes
// the connection.
type LengthError struct {
	Opcode Opcode // opcode of the offending PDU
	ITT    uint32 // its tag
	Length uint32 // DataSegmentLength it announced
	Limit  uint32 // MaxRecvDataSegmentLength in force
}

// Error describes the excess.
func (e *LengthError) Error() string {
	return fmt.Sprintf("iscsi: %v itt=%#x data segment of %d bytes exceeds limit %d",
		e.Opcode, e.ITT, e.Length, e.Limit)
}
