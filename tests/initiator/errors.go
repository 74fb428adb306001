package initiator

import (
	"errors"
	"fmt"

	"github.com/atgt/atgt/messages/iscsi"
)

// ErrClosed reports an operation on a session whose connection has ended.
var ErrClosed = errors.New("initiator: connection closed")

// ErrTimeout reports an operation that did not finish within Options.Timeout.
var ErrTimeout = errors.New("initiator: operation timed out")

// LoginError is a Login Response with a non-zero status (RFC 7143 11.13.5), so tests
// can check the exact class and detail the target chose.
type LoginError struct {
	Class, Detail uint8
}

// Status joins Class and Detail, to compare with the iscsi.LoginStatus... values.
func (e *LoginError) Status() iscsi.LoginStatus {
	return iscsi.LoginStatus(e.Class)<<8 | iscsi.LoginStatus(e.Detail)
}

// Error names the status.
func (e *LoginError) Error() string {
	return fmt.Sprintf("initiator: login failed, status class %d detail %d", e.Class, e.Detail)
}

// RejectError is a Reject PDU answering one of the session's PDUs (RFC 7143 11.17).
type RejectError struct {
	Reason uint8
	// Header is the rejected PDU's BHS as the target returned it.
	Header iscsi.BHS
}

// Error names the reason and the rejected PDU.
func (e *RejectError) Error() string {
	return fmt.Sprintf("initiator: target rejected %v itt=%#x, reason %#02x",
		e.Header.Opcode(), e.Header.ITT(), e.Reason)
}

// ProtocolError reports a target PDU that breaks the protocol (wrong DataSN, offset
// outside the buffer, ...): the target is at fault, not the transport.
type ProtocolError struct{ Msg string }

// Error returns the description.
func (e *ProtocolError) Error() string { return "initiator: target protocol error: " + e.Msg }

func protoErr(format string, args ...any) error {
	return &ProtocolError{Msg: fmt.Sprintf(format, args...)}
}

// SCSIError is a command that completed with a status other than GOOD.
type SCSIError struct {
	Status uint8
	Sense  []byte
}

// Error shows the status and, when present, the sense key and additional sense code.
func (e *SCSIError) Error() string {
	if len(e.Sense) == 0 {
		return fmt.Sprintf("initiator: SCSI status %#02x", e.Status)
	}
	return fmt.Sprintf("initiator: SCSI status %#02x sense key %#x asc/ascq %#02x/%#02x",
		e.Status, e.Key(), e.ASC(), e.ASCQ())
}

// Key returns the sense key of fixed (0x70/0x71) or descriptor (0x72/0x73) sense data.
func (e *SCSIError) Key() uint8 { k, _, _ := parseSense(e.Sense); return k }

// ASC returns the additional sense code.
func (e *SCSIError) ASC() uint8 { _, a, _ := parseSense(e.Sense); return a }

// ASCQ returns the additional sense code qualifier.
func (e *SCSIError) ASCQ() uint8 { _, _, q := parseSense(e.Sense); return q }

// parseSense extracts key, ASC and ASCQ; short or unknown formats give zeros.
func parseSense(s []byte) (key, asc, ascq uint8) {
	if len(s) < 1 {
		return 0, 0, 0
	}
	switch s[0] & 0x7f {
	case 0x70, 0x71:
		if len(s) >= 14 {
			return s[2] & 0x0f, s[12], s[13]
		}
		if len(s) >= 3 {
			return s[2] & 0x0f, 0, 0
		}
	case 0x72, 0x73:
		if len(s) >= 4 {
			return s[1] & 0x0f, s[2], s[3]
		}
	}
	return 0, 0, 0
}
