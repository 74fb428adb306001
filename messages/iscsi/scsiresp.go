package iscsi

// SCSI Response codes (RFC 7143 section 11.4.3), byte 2 of a SCSI Response: whether
// the target ran the command at all. Only with SCSIRespCompleted does the Status byte
// mean anything.
const (
	// SCSIRespCompleted: the command completed at the target; see the SCSI status.
	SCSIRespCompleted = 0x00
	// SCSIRespTargetFailure: the target failed to run the command.
	SCSIRespTargetFailure = 0x01
)
