package metrics

import "github.com/atgt/atgt/messages/scsi"

// A command that did not end GOOD is counted under one error class: its sense key
// when it ended CHECK CONDITION (the coarse reason initiators switch on), or its
// status otherwise (a reservation conflict carries no sense data).
const (
	numSenseKeys = 16
	// errStatusBase is the first class that is a status, not a sense key.
	errStatusBase = numSenseKeys
	numErrClasses = errStatusBase + 6
)

// errNames are the values of the "sense_key" label: SPC-4 table 27's names, the
// reserved key 0x0C as its hex, then the statuses without sense.
var errNames = [numErrClasses]string{
	"NO_SENSE", "RECOVERED_ERROR", "NOT_READY", "MEDIUM_ERROR", "HARDWARE_ERROR", "ILLEGAL_REQUEST",
	"UNIT_ATTENTION", "DATA_PROTECT", "BLANK_CHECK", "VENDOR_SPECIFIC", "COPY_ABORTED", "ABORTED_COMMAND",
	"0x0C", "VOLUME_OVERFLOW", "MISCOMPARE", "COMPLETED",
	"BUSY", "RESERVATION_CONFLICT", "TASK_SET_FULL", "ACA_ACTIVE", "TASK_ABORTED", "OTHER_STATUS",
}

// errClass returns the error class of a command's status and sense data, or -1
// for a status that is not an error (GOOD, CONDITION MET).
func errClass(status uint8, sense []byte) int {
	switch status {
	case scsi.StatusGood, scsi.StatusConditionMet:
		return -1
	case scsi.StatusCheckCondition:
		return int(senseKey(sense))
	case scsi.StatusBusy:
		return errStatusBase
	case scsi.StatusReservationConflict:
		return errStatusBase + 1
	case scsi.StatusTaskSetFull:
		return errStatusBase + 2
	case scsi.StatusACAActive:
		return errStatusBase + 3
	case scsi.StatusTaskAborted:
		return errStatusBase + 4
	}
	return errStatusBase + 5
}

// senseKey reads the sense key of fixed (0x70/0x71) or descriptor (0x72/0x73)
// format sense data; sense too short to hold one reads as NO SENSE.
func senseKey(sense []byte) uint8 {
	if len(sense) < 3 {
		return scsi.SenseNoSense
	}
	switch sense[0] & 0x7f {
	case 0x72, 0x73:
		return sense[1] & 0x0f
	}
	return sense[2] & 0x0f
}
