package otel

import (
	"fmt"

	"github.com/atgt/atgt/messages/scsi"
)

// parseSense reads the sense key, ASC and ASCQ of fixed (0x70/0x71) or descriptor
// (0x72/0x73) format sense data; ok is false for sense too short or of another
// format, which then adds no sense attributes rather than wrong ones.
func parseSense(s []byte) (key, asc, ascq uint8, ok bool) {
	if len(s) == 0 {
		return 0, 0, 0, false
	}
	switch s[0] & 0x7f {
	case 0x70, 0x71:
		if len(s) < 14 {
			return 0, 0, 0, false
		}
		return s[2] & 0x0f, s[12], s[13], true
	case 0x72, 0x73:
		if len(s) < 4 {
			return 0, 0, 0, false
		}
		return s[1] & 0x0f, s[2], s[3], true
	}
	return 0, 0, 0, false
}

// senseKeyNames are SPC-4 table 27's names, for a span's status description.
var senseKeyNames = [16]string{
	"NO SENSE", "RECOVERED ERROR", "NOT READY", "MEDIUM ERROR", "HARDWARE ERROR", "ILLEGAL REQUEST",
	"UNIT ATTENTION", "DATA PROTECT", "BLANK CHECK", "VENDOR SPECIFIC", "COPY ABORTED", "ABORTED COMMAND",
	"RESERVED 0xC", "VOLUME OVERFLOW", "MISCOMPARE", "COMPLETED",
}

// statusText describes how a bad task ended, as a span's error status says it:
// "CHECK CONDITION, MEDIUM ERROR 11/00" or "TASK ABORTED".
func statusText(status uint8, sense []byte) string {
	switch status {
	case scsi.StatusGood:
		return "ended badly with status GOOD (aborted, timed out or retried)"
	case scsi.StatusCheckCondition:
		if key, asc, ascq, ok := parseSense(sense); ok {
			return fmt.Sprintf("CHECK CONDITION, %s %02X/%02X", senseKeyNames[key], asc, ascq)
		}
		return "CHECK CONDITION"
	case scsi.StatusConditionMet:
		return "CONDITION MET"
	case scsi.StatusBusy:
		return "BUSY"
	case scsi.StatusReservationConflict:
		return "RESERVATION CONFLICT"
	case scsi.StatusTaskSetFull:
		return "TASK SET FULL"
	case scsi.StatusACAActive:
		return "ACA ACTIVE"
	case scsi.StatusTaskAborted:
		return "TASK ABORTED"
	}
	return fmt.Sprintf("status 0x%02X", status)
}
