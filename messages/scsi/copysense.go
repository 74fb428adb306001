package scsi

// Sense conditions of third-party copy (EXTENDED COPY, SPC-4 6.4) and of
// SANITIZE (SBC-3 5.20), kept apart from the common ones in senseerrors.go.

// CopyAborted reports COPY ABORTED with the given ASC/ASCQ: an EXTENDED COPY
// whose parameter list was valid could not be carried out, e.g. 0D/02 COPY
// TARGET DEVICE NOT REACHABLE.
func CopyAborted(asc, ascq uint8) *SenseError {
	return &SenseError{Key: SenseCopyAborted, ASC: asc, ASCQ: ascq}
}

// InSegment is e, a COPY ABORTED, as reported for segment descriptor segment
// (counting from 0) of the parameter list (SPC-5 5.17.7.4, "errors detected during
// processing of segment descriptors", as in SPC-4): COMMAND-SPECIFIC INFORMATION
// holds the segment number, and the segment pointer (SPC-4 4.5.2.4.5), when ptr >= 0,
// names byte ptr, counted from the start of that segment descriptor when inSeg (a
// field of it is in error), else from the start of the parameter list (the first
// byte of the CSCD descriptor of a copy target that failed or cannot be reached).
// e is not changed.
func InSegment(e *SenseError, segment, ptr int, inSeg bool) *SenseError {
	c := *e
	c.CmdInfo = uint32(segment) & 0xFFFF
	c.SKSV, c.CD, c.SD, c.BPV, c.BitPointer, c.FieldPointer = false, false, false, false, 0, 0
	if ptr >= 0 && ptr <= 0xFFFF {
		c.SKSV, c.SD, c.FieldPointer = true, inSeg, uint16(ptr)
	}
	return &c
}

// CopyTargetNotReachable is COPY ABORTED, COPY TARGET DEVICE NOT REACHABLE
// (0D/02): a segment names a target descriptor that is not a logical unit of
// this target (a null device, an unknown designator or a missing index).
func CopyTargetNotReachable() *SenseError { return CopyAborted(0x0D, 0x02) }

// TooManyTargetDescriptors is ILLEGAL REQUEST, TOO MANY TARGET DESCRIPTORS
// (26/06): more than RECEIVE COPY OPERATING PARAMETERS allows.
func TooManyTargetDescriptors() *SenseError {
	return &SenseError{Key: SenseIllegalRequest, ASC: 0x26, ASCQ: 0x06}
}

// TooManySegmentDescriptors is ILLEGAL REQUEST, TOO MANY SEGMENT DESCRIPTORS
// (26/08).
func TooManySegmentDescriptors() *SenseError {
	return &SenseError{Key: SenseIllegalRequest, ASC: 0x26, ASCQ: 0x08}
}

// UnsupportedTargetDescriptorType is ILLEGAL REQUEST, UNSUPPORTED TARGET
// DESCRIPTOR TYPE CODE (26/07), pointing at the descriptor's type byte in the
// parameter list.
func UnsupportedTargetDescriptorType(byteOff int) *SenseError {
	return fieldPointer(&SenseError{Key: SenseIllegalRequest, ASC: 0x26, ASCQ: 0x07}, byteOff, -1, false)
}

// UnsupportedSegmentDescriptorType is ILLEGAL REQUEST, UNSUPPORTED SEGMENT
// DESCRIPTOR TYPE CODE (26/09), pointing at the descriptor's type byte.
func UnsupportedSegmentDescriptorType(byteOff int) *SenseError {
	return fieldPointer(&SenseError{Key: SenseIllegalRequest, ASC: 0x26, ASCQ: 0x09}, byteOff, -1, false)
}

// OperationInProgress is ILLEGAL REQUEST, OPERATION IN PROGRESS (00/16): an
// EXTENDED COPY reuses the list identifier of a copy still running for the
// same I_T nexus.
func OperationInProgress() *SenseError {
	return &SenseError{Key: SenseIllegalRequest, ASC: 0x00, ASCQ: 0x16}
}

// SanitizeInProgress is NOT READY, LOGICAL UNIT NOT READY, SANITIZE IN
// PROGRESS (04/1B): the logical unit is being erased.
func SanitizeInProgress() *SenseError {
	return &SenseError{Key: SenseNotReady, ASC: 0x04, ASCQ: 0x1B}
}

// SanitizeInProgressAt is SanitizeInProgress with its PROGRESS INDICATION
// (SPC-4 4.5.2.4.4): for NOT READY the sense-key specific field, valid with
// SKSV, is the fraction done in 65536ths, where a field pointer goes otherwise.
func SanitizeInProgressAt(progress uint16) *SenseError {
	e := SanitizeInProgress()
	e.SKSV, e.FieldPointer = true, progress
	return e
}

// SanitizeFailed is MEDIUM ERROR, SANITIZE COMMAND FAILED (31/03): the last
// SANITIZE failed, and the medium stays unusable until a SANITIZE succeeds or
// one with EXIT FAILURE MODE ends the failure mode (SBC-3 4.11).
func SanitizeFailed() *SenseError { return MediumError(0x31, 0x03) }
