package scsi

// The constructors below are the sense conditions the target reports. Each
// returns a fresh value so callers may adjust fields without sharing state.

// InvalidOpcode reports ILLEGAL REQUEST, INVALID COMMAND OPERATION CODE
// (20/00): the opcode is not implemented by this logical unit.
func InvalidOpcode() *SenseError {
	return &SenseError{Key: SenseIllegalRequest, ASC: 0x20, ASCQ: 0x00}
}

// fieldPointer fills in the sense-key-specific field pointer; bit < 0 means
// the whole byte is in error and no bit pointer is given.
func fieldPointer(e *SenseError, byteOff, bit int, cd bool) *SenseError {
	if byteOff >= 0 && byteOff <= 0xFFFF {
		e.SKSV = true
		e.CD = cd
		e.FieldPointer = uint16(byteOff)
		if bit >= 0 && bit <= 7 {
			e.BPV = true
			e.BitPointer = uint8(bit)
		}
	}
	return e
}

// InvalidFieldInCDB reports ILLEGAL REQUEST, INVALID FIELD IN CDB (24/00)
// pointing at byte byteOff, bit bit (bit < 0: no bit pointer) of the CDB, so
// an initiator can tell which field it got wrong.
func InvalidFieldInCDB(byteOff, bit int) *SenseError {
	return fieldPointer(&SenseError{Key: SenseIllegalRequest, ASC: 0x24, ASCQ: 0x00}, byteOff, bit, true)
}

// InvalidFieldInParamList reports ILLEGAL REQUEST, INVALID FIELD IN
// PARAMETER LIST (26/00) pointing at byte byteOff, bit bit of the data-out
// parameter list.
func InvalidFieldInParamList(byteOff, bit int) *SenseError {
	return fieldPointer(&SenseError{Key: SenseIllegalRequest, ASC: 0x26, ASCQ: 0x00}, byteOff, bit, false)
}

// ParameterListLengthError reports ILLEGAL REQUEST, PARAMETER LIST LENGTH
// ERROR (1A/00): the parameter list is shorter than its own headers claim.
func ParameterListLengthError() *SenseError {
	return &SenseError{Key: SenseIllegalRequest, ASC: 0x1A, ASCQ: 0x00}
}

// LBAOutOfRange reports ILLEGAL REQUEST, LOGICAL BLOCK ADDRESS OUT OF RANGE
// (21/00): the LBA range reaches past the last block.
func LBAOutOfRange() *SenseError {
	return &SenseError{Key: SenseIllegalRequest, ASC: 0x21, ASCQ: 0x00}
}

// WriteProtected reports DATA PROTECT, WRITE PROTECTED (27/00) for writes to
// a read-only logical unit.
func WriteProtected() *SenseError {
	return &SenseError{Key: SenseDataProtect, ASC: 0x27, ASCQ: 0x00}
}

// SoftwareWriteProtected reports DATA PROTECT, SOFTWARE WRITE PROTECTED
// (27/02) for writes refused because the SWP bit of the Control mode page
// is set.
func SoftwareWriteProtected() *SenseError {
	return &SenseError{Key: SenseDataProtect, ASC: 0x27, ASCQ: 0x02}
}

// SpaceAllocationFailed reports DATA PROTECT, SPACE ALLOCATION FAILED WRITE PROTECT
// (27/07): a thin provisioned LU could not allocate the blocks a write needs (SBC-4
// 4.7.3, resource exhaustion). Initiators take it as "out of space", not a bad medium: Linux fails the
// IO with ENOSPC and does not count it against the path.
func SpaceAllocationFailed() *SenseError {
	return &SenseError{Key: SenseDataProtect, ASC: 0x27, ASCQ: 0x07}
}

// NotReadyManualIntervention reports NOT READY, LOGICAL UNIT NOT READY, MANUAL
// INTERVENTION REQUIRED (04/03): the store behind the LU is gone (a block device
// removed) and only an administrator can bring it back.
func NotReadyManualIntervention() *SenseError {
	return &SenseError{Key: SenseNotReady, ASC: 0x04, ASCQ: 0x03}
}

// CommunicationTimeout reports ABORTED COMMAND, LOGICAL UNIT COMMUNICATION TIME-OUT
// (08/01): the store did not answer in time (a Ceph cluster past its op timeout);
// the key tells the initiator to retry the command.
func CommunicationTimeout() *SenseError { return AbortedCommand(0x08, 0x01) }

// MediumError reports MEDIUM ERROR with the given ASC/ASCQ, e.g. 11/00
// UNRECOVERED READ ERROR or 0C/00 WRITE ERROR, for failed backend IO.
func MediumError(asc, ascq uint8) *SenseError {
	return &SenseError{Key: SenseMediumError, ASC: asc, ASCQ: ascq}
}

// InvalidFieldInCommandIU is ILLEGAL REQUEST, INVALID FIELD IN COMMAND
// INFORMATION UNIT (0E/03): the transport's part of the command (for iSCSI the
// expected data transfer length) does not fit the CDB.
func InvalidFieldInCommandIU() *SenseError {
	return &SenseError{Key: SenseIllegalRequest, ASC: 0x0E, ASCQ: 0x03}
}

// UnrecoveredReadError is MEDIUM ERROR, UNRECOVERED READ ERROR (11/00).
func UnrecoveredReadError() *SenseError { return MediumError(0x11, 0x00) }

// WriteError is MEDIUM ERROR, WRITE ERROR (0C/00).
func WriteError() *SenseError { return MediumError(0x0C, 0x00) }

// Miscompare reports MISCOMPARE, MISCOMPARE DURING VERIFY OPERATION (1D/00)
// with INFORMATION set to the offset of the first differing byte, as SBC-3
// requires for VERIFY and COMPARE AND WRITE.
func Miscompare(info uint64) *SenseError {
	return &SenseError{Key: SenseMiscompare, ASC: 0x1D, ASCQ: 0x00, Info: info, InfoValid: true}
}

// PowerOnReset is the UNIT ATTENTION POWER ON, RESET, OR BUS DEVICE RESET
// OCCURRED (29/00) every new I_T nexus sees once.
func PowerOnReset() *SenseError {
	return &SenseError{Key: SenseUnitAttention, ASC: 0x29, ASCQ: 0x00}
}

// BusDeviceReset is the UNIT ATTENTION BUS DEVICE RESET FUNCTION OCCURRED
// (29/03) established by a LOGICAL UNIT RESET task management function.
func BusDeviceReset() *SenseError {
	return &SenseError{Key: SenseUnitAttention, ASC: 0x29, ASCQ: 0x03}
}

// NexusLoss is the UNIT ATTENTION I_T NEXUS LOSS OCCURRED (29/07).
func NexusLoss() *SenseError {
	return &SenseError{Key: SenseUnitAttention, ASC: 0x29, ASCQ: 0x07}
}

// CommandsClearedByISCSI is the UNIT ATTENTION SOME COMMANDS CLEARED BY ISCSI
// PROTOCOL EVENT (47/7F): an I_T_L nexus whose tasks iSCSI terminated on a connection
// that was logged out (a connection reinstatement is an implicit "close the
// connection" logout at ErrorRecoveryLevel < 2) reports it on its next command
// (RFC 7143 11.14, "Implicit termination of tasks"; RFC 3720 10.14).
func CommandsClearedByISCSI() *SenseError {
	return &SenseError{Key: SenseUnitAttention, ASC: 0x47, ASCQ: 0x7F}
}

// ModeParametersChanged is the UNIT ATTENTION MODE PARAMETERS CHANGED
// (2A/01) other I_T nexuses get after a MODE SELECT changed shared pages.
func ModeParametersChanged() *SenseError {
	return &SenseError{Key: SenseUnitAttention, ASC: 0x2A, ASCQ: 0x01}
}

// CapacityDataChanged is the UNIT ATTENTION CAPACITY DATA HAS CHANGED
// (2A/09) after the backing store was resized.
func CapacityDataChanged() *SenseError {
	return &SenseError{Key: SenseUnitAttention, ASC: 0x2A, ASCQ: 0x09}
}

// ReportedLUNsChanged is the UNIT ATTENTION REPORTED LUNS DATA HAS CHANGED
// (3F/0E) after LUNs were added to or removed from a target.
func ReportedLUNsChanged() *SenseError {
	return &SenseError{Key: SenseUnitAttention, ASC: 0x3F, ASCQ: 0x0E}
}

// AsymmetricAccessStateChanged is the UNIT ATTENTION ASYMMETRIC ACCESS STATE
// CHANGED (2A/06) after a target port group's ALUA state changed (SPC-4 5.11.2.7),
// so that multipath initiators ask REPORT TARGET PORT GROUPS again.
func AsymmetricAccessStateChanged() *SenseError {
	return &SenseError{Key: SenseUnitAttention, ASC: 0x2A, ASCQ: 0x06}
}

// CommandsClearedByAnotherInitiator is the UNIT ATTENTION COMMANDS CLEARED
// BY ANOTHER INITIATOR (2F/00) after another nexus's CLEAR TASK SET.
func CommandsClearedByAnotherInitiator() *SenseError {
	return &SenseError{Key: SenseUnitAttention, ASC: 0x2F, ASCQ: 0x00}
}

// CommandsClearedByDeviceServer is the UNIT ATTENTION COMMANDS CLEARED BY
// DEVICE SERVER (2F/02).
func CommandsClearedByDeviceServer() *SenseError {
	return &SenseError{Key: SenseUnitAttention, ASC: 0x2F, ASCQ: 0x02}
}

// LogicalUnitNotSupported reports ILLEGAL REQUEST, LOGICAL UNIT NOT
// SUPPORTED (25/00) for commands addressed to a LUN that does not exist.
func LogicalUnitNotSupported() *SenseError {
	return &SenseError{Key: SenseIllegalRequest, ASC: 0x25, ASCQ: 0x00}
}

// InternalTargetFailure reports HARDWARE ERROR, INTERNAL TARGET FAILURE
// (44/00) for failures that have no more precise description.
func InternalTargetFailure() *SenseError {
	return &SenseError{Key: SenseHardwareError, ASC: 0x44, ASCQ: 0x00}
}

// LogicalUnitFailure reports NOT READY, LOGICAL UNIT FAILURE (3E/01): the logical
// unit failed too often to go on serving (a LUN taken offline).
func LogicalUnitFailure() *SenseError {
	return &SenseError{Key: SenseNotReady, ASC: 0x3E, ASCQ: 0x01}
}

// SavingParametersNotSupported reports ILLEGAL REQUEST, SAVING PARAMETERS
// NOT SUPPORTED (39/00): this target keeps no saved mode pages.
func SavingParametersNotSupported() *SenseError {
	return &SenseError{Key: SenseIllegalRequest, ASC: 0x39, ASCQ: 0x00}
}

// NotReadyBecomingReady reports NOT READY, LOGICAL UNIT IS IN PROCESS OF
// BECOMING READY (04/01).
func NotReadyBecomingReady() *SenseError {
	return &SenseError{Key: SenseNotReady, ASC: 0x04, ASCQ: 0x01}
}

// NotReadyUnavailable reports NOT READY, LOGICAL UNIT NOT ACCESSIBLE, TARGET PORT
// IN UNAVAILABLE STATE (04/0C; SPC-4 5.11.2.4.5): this port cannot serve the
// command, another port group may. Initiators fail the command on this path at
// once (Linux: a path error, which dm-multipath retries on another path), where
// BECOMING READY (04/01) would be retried on the same path.
func NotReadyUnavailable() *SenseError {
	return &SenseError{Key: SenseNotReady, ASC: 0x04, ASCQ: 0x0C}
}

// MediumNotPresent reports NOT READY, MEDIUM NOT PRESENT (3A/00).
func MediumNotPresent() *SenseError {
	return &SenseError{Key: SenseNotReady, ASC: 0x3A, ASCQ: 0x00}
}

// AbortedCommand reports ABORTED COMMAND with the given ASC/ASCQ, e.g.
// 47/03 INFORMATION UNIT iuCRC ERROR DETECTED after a digest error.
func AbortedCommand(asc, ascq uint8) *SenseError {
	return &SenseError{Key: SenseAbortedCommand, ASC: asc, ASCQ: ascq}
}

// CommandTimeout reports ABORTED COMMAND, LOGICAL UNIT COMMUNICATION TIME-OUT
// (08/01) for a task whose backend call the LUN abandoned: the key tells the
// initiator to retry, the code why (the store did not answer in time). Not
// COMMAND TIMEOUT DURING PROCESSING (2E/02): Linux 6.5 and later read 2E/01-03
// as a command duration limit expiry and fail the IO with ETIME, never retried.
func CommandTimeout() *SenseError {
	return CommunicationTimeout()
}

// ProtocolServiceCRCError reports ABORTED COMMAND, PROTOCOL SERVICE CRC ERROR
// (47/05): write data lost to a digest error (RFC 7143 7.8, 13.5.1); the key
// tells the initiator to retry the command.
func ProtocolServiceCRCError() *SenseError { return AbortedCommand(0x47, 0x05) }

// NotEnoughUnsolicitedData reports ABORTED COMMAND, WRITE ERROR - NOT ENOUGH
// UNSOLICITED DATA (0C/0D, SPC-4): the unsolicited burst ended before
// FirstBurstLength (or EDTL), and the data it left out was never solicited.
func NotEnoughUnsolicitedData() *SenseError { return AbortedCommand(0x0C, 0x0D) }

// DataPhaseError reports ABORTED COMMAND, DATA PHASE ERROR (4B/00): a solicited
// burst ended (F) before the length its R2T asked for.
func DataPhaseError() *SenseError { return AbortedCommand(0x4B, 0x00) }
