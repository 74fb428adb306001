package scsi

// Sense keys (SPC-4 table 27): the coarse class of an error that initiators
// switch on before they look at the ASC/ASCQ pair.
const (
	SenseNoSense        = 0x0
	SenseRecoveredError = 0x1
	SenseNotReady       = 0x2
	SenseMediumError    = 0x3
	SenseHardwareError  = 0x4
	SenseIllegalRequest = 0x5
	SenseUnitAttention  = 0x6
	SenseDataProtect    = 0x7
	SenseBlankCheck     = 0x8
	SenseVendorSpecific = 0x9
	SenseCopyAborted    = 0xA
	SenseAbortedCommand = 0xB
	SenseVolumeOverflow = 0xD
	SenseMiscompare     = 0xE
)
