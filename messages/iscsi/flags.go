package iscsi

// Byte 1 of the BHS holds flags whose meaning depends on the opcode (RFC 7143 section
// 11). The constants below name each bit or field per PDU type so code that builds or
// reads a header never spells a bare mask; the typed accessors in bhs_flags.go and
// bhs_login.go are the usual way in, these are for the few places that compare or
// compose byte 1 whole (fuzzers, tests that build malformed headers).

// SCSI Command (11.3.1): F is FlagFinal; R and W give the data direction and the
// low three bits the task attribute.
const (
	// CmdFlagRead is R: the command expects Data-In.
	CmdFlagRead = 0x40
	// CmdFlagWrite is W: the command carries Data-Out.
	CmdFlagWrite = 0x20
	// CmdAttrMask covers ATTR, the task attribute (TaskAttr values).
	CmdAttrMask = 0x07
)

// Task attributes (11.3.1.3, SAM-5 8.6), the ATTR field of a SCSI Command: they tell
// the task set how a task may be reordered.
const (
	// TaskAttrUntagged is 0, the legacy untagged form; initiators send SIMPLE.
	TaskAttrUntagged = 0
	// TaskAttrSimple may be reordered with other SIMPLE tasks.
	TaskAttrSimple = 1
	// TaskAttrOrdered waits for every older task and holds every newer one.
	TaskAttrOrdered = 2
	// TaskAttrHeadOfQueue runs before any task not yet started.
	TaskAttrHeadOfQueue = 3
	// TaskAttrACA is the attribute of a task sent while an ACA condition holds.
	TaskAttrACA = 4
)

// Data-In (11.7) and SCSI Response (11.4): F is FlagFinal.
const (
	// DataInFlagAck is A: the target asks for a DataACK SNACK (ERL > 0 only).
	DataInFlagAck = 0x40
	// DataInFlagStatus is S: this Data-In carries the command's status, no SCSI
	// Response follows.
	DataInFlagStatus = 0x01
	// FlagResidualOverflow is O (Data-In with S, SCSI Response): the command wanted
	// to move more data than the Expected Data Transfer Length.
	FlagResidualOverflow = 0x04
	// FlagResidualUnderflow is U (Data-In with S, SCSI Response): less data moved
	// than the Expected Data Transfer Length.
	FlagResidualUnderflow = 0x02
	// RespFlagBidiOverflow is o of a SCSI Response: the read half of a
	// bidirectional command overflowed.
	RespFlagBidiOverflow = 0x10
	// RespFlagBidiUnderflow is u of a SCSI Response: the read half of a
	// bidirectional command underflowed.
	RespFlagBidiUnderflow = 0x08
)

// Login Request and Response (11.12, 11.13), Text Request and Response (11.10, 11.11).
const (
	// LoginFlagTransit is T: the sender is ready to move to the stage in NSG. It is
	// the bit other PDUs call F.
	LoginFlagTransit = FlagFinal
	// FlagContinue is C of Login and Text PDUs: the text is continued in the next PDU.
	FlagContinue = 0x40
	// LoginCSGMask covers CSG, the current stage.
	LoginCSGMask = 0x0c
	// LoginNSGMask covers NSG, the next stage (meaningful only with T).
	LoginNSGMask = 0x03
)

// Login stages, the values of CSG and NSG (11.12.3); 2 is reserved.
const (
	// LoginStageSecurity is security negotiation (authentication).
	LoginStageSecurity uint8 = 0
	// LoginStageOperational is operational parameter negotiation.
	LoginStageOperational uint8 = 1
	// LoginStageFullFeature is the full feature phase the login leads to.
	LoginStageFullFeature uint8 = 3
)

// Logout Request (11.14) and Task Management Function Request (11.5): F is always 1
// and the rest of byte 1 is a code.
const (
	// LogoutReasonMask covers the reason code (LogoutClose... values).
	LogoutReasonMask = 0x7f
	// TMFFunctionMask covers the function code (TMF... values).
	TMFFunctionMask = 0x7f
)
