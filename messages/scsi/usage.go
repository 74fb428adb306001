package scsi

// ServiceAction identifies one command of an opcode whose CDB carries a
// service action (SPC-4 4.2.5.2); REPORT SUPPORTED OPERATION CODES lists
// those once per service action.
type ServiceAction struct {
	Op byte
	SA uint16
}

// ServiceActions lists, per opcode that has them, the service actions the
// block device model implements, ascending. An opcode listed here is
// reported with SERVACTV set.
var ServiceActions = map[byte][]uint16{
	OpServiceActionIn16: {SAReadCapacity16, SAGetLBAStatus},
	// MAINTENANCE IN: REPORT TARGET PORT GROUPS only on a LU with ALUA port groups.
	OpMaintenanceIn: {SAReportTargetPortGroups, SAReportSupportedOpcodes, SAReportSupportedTMFs},
	// PERSISTENT RESERVE IN: READ KEYS, READ RESERVATION, REPORT CAPABILITIES, READ
	// FULL STATUS; OUT: REGISTER through REGISTER AND MOVE (SPC-4 6.15, 6.16).
	OpPersistentReserveIn:  {0, 1, 2, 3},
	OpPersistentReserveOut: {0, 1, 2, 3, 4, 5, 6, 7},
	// EXTENDED COPY (LID1) and RECEIVE COPY RESULTS: COPY STATUS and
	// OPERATING PARAMETERS (SPC-4 6.4, 6.18).
	OpExtendedCopy:       {SAExtendedCopyLID1},
	OpReceiveCopyResults: {SACopyStatusLID1, SAOperatingParameters},
	// SANITIZE: OVERWRITE, BLOCK ERASE, EXIT FAILURE MODE (SBC-3 5.20); a LUN
	// reports only those its configuration allows.
	OpSanitize: {SASanitizeOverwrite, SASanitizeBlockErase, SASanitizeExitFailureMode},
}

// usage holds the CDB USAGE DATA of REPORT SUPPORTED OPERATION CODES (SPC-4
// 6.35.3): byte 0 is the opcode, then a bit mask of the CDB bits the device
// server looks at. Fields this target refuses when non-zero (protection,
// NACA) are left out, so an initiator knows not to set them. Keyed by
// opcode, or opcode<<16|service action for service action commands.
var usage = map[uint32][]byte{
	OpTestUnitReady:       {OpTestUnitReady, 0, 0, 0, 0, 0},
	OpRequestSense:        {OpRequestSense, 0x01, 0, 0, 0xFF, 0},
	OpRead6:               {OpRead6, 0x1F, 0xFF, 0xFF, 0xFF, 0},
	OpWrite6:              {OpWrite6, 0x1F, 0xFF, 0xFF, 0xFF, 0},
	OpInquiry:             {OpInquiry, 0x01, 0xFF, 0xFF, 0xFF, 0},
	OpModeSelect6:         {OpModeSelect6, 0x11, 0, 0, 0xFF, 0},
	OpModeSense6:          {OpModeSense6, 0x08, 0xFF, 0xFF, 0xFF, 0},
	OpStartStopUnit:       {OpStartStopUnit, 0x01, 0, 0x0F, 0xF7, 0},
	OpPreventAllowRemoval: {OpPreventAllowRemoval, 0, 0, 0, 0x03, 0},
	OpReadCapacity10:      {OpReadCapacity10, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0x01, 0},
	OpRead10:              {OpRead10, 0x18, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0xFF, 0xFF, 0},
	OpWrite10:             {OpWrite10, 0x18, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0xFF, 0xFF, 0},
	OpWriteAndVerify10:    {OpWriteAndVerify10, 0x16, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0xFF, 0xFF, 0},
	OpVerify10:            {OpVerify10, 0x16, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0xFF, 0xFF, 0},
	OpPrefetch10:          {OpPrefetch10, 0x02, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0xFF, 0xFF, 0},
	OpSynchronizeCache10:  {OpSynchronizeCache10, 0x02, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0xFF, 0xFF, 0},
	OpReadDefectData10:    {OpReadDefectData10, 0, 0x1F, 0, 0, 0, 0, 0xFF, 0xFF, 0},
	OpWriteSame10:         {OpWriteSame10, 0x08, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0xFF, 0xFF, 0},
	OpUnmap:               {OpUnmap, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0},
	OpModeSelect10:        {OpModeSelect10, 0x11, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0},
	OpModeSense10:         {OpModeSense10, 0x18, 0xFF, 0xFF, 0, 0, 0, 0xFF, 0xFF, 0},
	OpRead16:              {OpRead16, 0x18, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0},
	OpCompareAndWrite:     {OpCompareAndWrite, 0x18, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0xFF, 0, 0},
	OpWrite16:             {OpWrite16, 0x18, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0},
	OpORWrite:             {OpORWrite, 0x18, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0},
	OpWriteAndVerify16:    {OpWriteAndVerify16, 0x16, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0},
	OpVerify16:            {OpVerify16, 0x16, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0},
	OpPrefetch16:          {OpPrefetch16, 0x02, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0},
	OpSynchronizeCache16:  {OpSynchronizeCache16, 0x02, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0},
	OpWriteSame16:         {OpWriteSame16, 0x09, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0},
	OpReportLUNs:          {OpReportLUNs, 0, 0xFF, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0},
	OpRead12:              {OpRead12, 0x18, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0},
	OpWrite12:             {OpWrite12, 0x18, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0},
	OpWriteAndVerify12:    {OpWriteAndVerify12, 0x16, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0},
	OpVerify12:            {OpVerify12, 0x16, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0},
	OpReadDefectData12:    {OpReadDefectData12, 0x1F, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0},

	uint32(OpServiceActionIn16)<<16 | SAReadCapacity16:     {OpServiceActionIn16, SAReadCapacity16, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0},
	uint32(OpServiceActionIn16)<<16 | SAGetLBAStatus:       {OpServiceActionIn16, SAGetLBAStatus, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0},
	uint32(OpMaintenanceIn)<<16 | SAReportTargetPortGroups: {OpMaintenanceIn, 0xE0 | SAReportTargetPortGroups, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0},
	uint32(OpMaintenanceIn)<<16 | SAReportSupportedOpcodes: {OpMaintenanceIn, SAReportSupportedOpcodes, 0x87, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0},
	uint32(OpMaintenanceIn)<<16 | SAReportSupportedTMFs:    {OpMaintenanceIn, SAReportSupportedTMFs, 0x80, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0},
	OpReserve6:                             {OpReserve6, 0, 0, 0, 0, 0},
	OpRelease6:                             {OpRelease6, 0, 0, 0, 0, 0},
	OpReserve10:                            {OpReserve10, 0, 0, 0, 0, 0, 0, 0, 0, 0},
	OpRelease10:                            {OpRelease10, 0, 0, 0, 0, 0, 0, 0, 0, 0},
	uint32(OpPersistentReserveIn)<<16 | 0:  {OpPersistentReserveIn, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0},
	uint32(OpPersistentReserveIn)<<16 | 1:  {OpPersistentReserveIn, 1, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0},
	uint32(OpPersistentReserveIn)<<16 | 2:  {OpPersistentReserveIn, 2, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0},
	uint32(OpPersistentReserveIn)<<16 | 3:  {OpPersistentReserveIn, 3, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0},
	uint32(OpPersistentReserveOut)<<16 | 0: {OpPersistentReserveOut, 0, 0xFF, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0},
	uint32(OpPersistentReserveOut)<<16 | 1: {OpPersistentReserveOut, 1, 0xFF, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0},
	uint32(OpPersistentReserveOut)<<16 | 2: {OpPersistentReserveOut, 2, 0xFF, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0},
	uint32(OpPersistentReserveOut)<<16 | 3: {OpPersistentReserveOut, 3, 0xFF, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0},
	uint32(OpPersistentReserveOut)<<16 | 4: {OpPersistentReserveOut, 4, 0xFF, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0},
	uint32(OpPersistentReserveOut)<<16 | 5: {OpPersistentReserveOut, 5, 0xFF, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0},
	uint32(OpPersistentReserveOut)<<16 | 6: {OpPersistentReserveOut, 6, 0xFF, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0},
	uint32(OpPersistentReserveOut)<<16 | 7: {OpPersistentReserveOut, 7, 0xFF, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0},

	uint32(OpExtendedCopy)<<16 | SAExtendedCopyLID1:          {OpExtendedCopy, SAExtendedCopyLID1, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0},
	uint32(OpReceiveCopyResults)<<16 | SACopyStatusLID1:      {OpReceiveCopyResults, SACopyStatusLID1, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0},
	uint32(OpReceiveCopyResults)<<16 | SAOperatingParameters: {OpReceiveCopyResults, SAOperatingParameters, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0},
	// IMMED, AUSE and the service action in byte 1; the parameter list length.
	uint32(OpSanitize)<<16 | SASanitizeOverwrite:       {OpSanitize, 0xA0 | SASanitizeOverwrite, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0},
	uint32(OpSanitize)<<16 | SASanitizeBlockErase:      {OpSanitize, 0xA0 | SASanitizeBlockErase, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0},
	uint32(OpSanitize)<<16 | SASanitizeExitFailureMode: {OpSanitize, 0xA0 | SASanitizeExitFailureMode, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0},
}

// CDBUsage returns the CDB usage data of op (and service action sa, for an
// opcode listed in ServiceActions), or false if the target has none. The
// slice is shared: callers copy it.
func CDBUsage(op byte, sa uint16) ([]byte, bool) {
	key := uint32(op)
	if _, ok := ServiceActions[op]; ok {
		key = uint32(op)<<16 | uint32(sa)
	}
	u, ok := usage[key]
	return u, ok
}

// CDBBit is one bit of a CDB: byte index and the bit's mask.
type CDBBit struct {
	Byte int
	Mask byte
}

// UnusedCDBBits lists the CDB bits that the usage data mask of op tells an
// initiator the device server does not look at: every clear bit of the mask
// but the OPERATION CODE and, for an opcode with service actions, the SERVICE
// ACTION field (byte 1, bits 4:0), which the usage data holds the value of,
// not a mask (SPC-4 6.35.3). Tests set each one to check that the mask tells
// the truth.
func UnusedCDBBits(op byte, mask []byte) []CDBBit {
	var bits []CDBBit
	for i := 1; i < len(mask); i++ {
		for b := 0; b < 8; b++ {
			m := byte(1) << b
			if mask[i]&m != 0 {
				continue
			}
			if _, sa := ServiceActions[op]; sa && i == 1 && m&0x1F != 0 {
				continue
			}
			bits = append(bits, CDBBit{Byte: i, Mask: m})
		}
	}
	return bits
}
