package scsi

// Operation codes (SPC-4 annex D, SBC-3 table 13) of every command the
// target may ever see; only some are implemented (see Commands).
const (
	OpTestUnitReady        = 0x00
	OpRequestSense         = 0x03
	OpFormatUnit           = 0x04
	OpRead6                = 0x08
	OpWrite6               = 0x0A
	OpInquiry              = 0x12
	OpModeSelect6          = 0x15
	OpReserve6             = 0x16
	OpRelease6             = 0x17
	OpModeSense6           = 0x1A
	OpStartStopUnit        = 0x1B
	OpReceiveDiagnostic    = 0x1C
	OpSendDiagnostic       = 0x1D
	OpPreventAllowRemoval  = 0x1E
	OpReadCapacity10       = 0x25
	OpRead10               = 0x28
	OpWrite10              = 0x2A
	OpWriteAndVerify10     = 0x2E
	OpVerify10             = 0x2F
	OpPrefetch10           = 0x34
	OpSynchronizeCache10   = 0x35
	OpReadDefectData10     = 0x37
	OpWriteBuffer          = 0x3B
	OpReadBuffer           = 0x3C
	OpWriteSame10          = 0x41
	OpUnmap                = 0x42
	OpSanitize             = 0x48
	OpLogSelect            = 0x4C
	OpLogSense             = 0x4D
	OpModeSelect10         = 0x55
	OpReserve10            = 0x56
	OpRelease10            = 0x57
	OpModeSense10          = 0x5A
	OpPersistentReserveIn  = 0x5E
	OpPersistentReserveOut = 0x5F
	OpVariableLength       = 0x7F
	OpExtendedCopy         = 0x83
	OpReceiveCopyResults   = 0x84
	OpATAPassThrough16     = 0x85
	OpAccessControlIn      = 0x86
	OpAccessControlOut     = 0x87
	OpRead16               = 0x88
	OpCompareAndWrite      = 0x89
	OpWrite16              = 0x8A
	OpORWrite              = 0x8B
	OpWriteAndVerify16     = 0x8E
	OpVerify16             = 0x8F
	OpPrefetch16           = 0x90
	OpSynchronizeCache16   = 0x91
	OpWriteSame16          = 0x93
	OpWriteAtomic16        = 0x9C
	OpServiceActionIn16    = 0x9E
	OpServiceActionOut16   = 0x9F
	OpReportLUNs           = 0xA0
	OpATAPassThrough12     = 0xA1
	OpSecurityProtocolIn   = 0xA2
	OpMaintenanceIn        = 0xA3
	OpMaintenanceOut       = 0xA4
	OpRead12               = 0xA8
	OpWrite12              = 0xAA
	OpWriteAndVerify12     = 0xAE
	OpVerify12             = 0xAF
	OpSecurityProtocolOut  = 0xB5
	OpReadDefectData12     = 0xB7
)

// Service actions of SERVICE ACTION IN(16) (0x9E).
const (
	SAReadCapacity16 = 0x10
	SAGetLBAStatus   = 0x12
)

// Service actions of MAINTENANCE IN (0xA3).
const (
	SAReportTargetPortGroups = 0x0A
	SAReportSupportedOpcodes = 0x0C
	SAReportSupportedTMFs    = 0x0D
	SAReportTimestamp        = 0x0F
	SAReportIdentifyingInfo  = 0x05
	SAReportPriority         = 0x0E
	SAReportAliases          = 0x0B
)

// Service actions of EXTENDED COPY (0x83) and RECEIVE COPY RESULTS (0x84):
// the LID1 forms of SPC-4 (6.4, 6.18), which identify a copy by an 8-bit list
// identifier.
const (
	SAExtendedCopyLID1     = 0x00
	SACopyStatusLID1       = 0x00
	SAReceiveDataLID1      = 0x01
	SAOperatingParameters  = 0x03
	SAFailedSegmentDetails = 0x04
)

// Service actions of SANITIZE (0x48, SBC-3 5.20).
const (
	SASanitizeOverwrite       = 0x01
	SASanitizeBlockErase      = 0x02
	SASanitizeCryptoErase     = 0x03
	SASanitizeExitFailureMode = 0x1F
)
