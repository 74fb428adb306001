package scsi

// DataDir is the direction of a command's data transfer, which the iSCSI
// layer checks against the R/W bits of the SCSI Command PDU.
type DataDir uint8

// Data directions.
const (
	DirNone  DataDir = iota // no data phase
	DirRead                 // data-in: device to initiator
	DirWrite                // data-out: initiator to device
)

// CommandInfo describes one opcode for dispatch: how to name it in logs,
// which way data flows, how it interacts with unit attentions and
// reservations, and whether this target implements it at all.
type CommandInfo struct {
	Name string
	Dir  DataDir
	// AllowedWithUA commands (INQUIRY, REPORT LUNS, REQUEST SENSE) run
	// without reporting a pending unit attention (SAM-5 5.14).
	AllowedWithUA bool
	// ConflictsWithReservation commands are refused with RESERVATION
	// CONFLICT when another I_T nexus holds a reservation.
	ConflictsWithReservation bool
	// Supported commands are implemented by the block device model; the
	// others get INVALID COMMAND OPERATION CODE.
	Supported bool
}

// Commands is the dispatch table indexed by operation code. An all-zero
// entry is an opcode the target does not know.
var Commands = [256]CommandInfo{
	OpTestUnitReady:        {Name: "TEST UNIT READY", Dir: DirNone, Supported: true},
	OpRequestSense:         {Name: "REQUEST SENSE", Dir: DirRead, AllowedWithUA: true, Supported: true},
	OpFormatUnit:           {Name: "FORMAT UNIT", Dir: DirWrite, ConflictsWithReservation: true},
	OpRead6:                {Name: "READ(6)", Dir: DirRead, ConflictsWithReservation: true, Supported: true},
	OpWrite6:               {Name: "WRITE(6)", Dir: DirWrite, ConflictsWithReservation: true, Supported: true},
	OpInquiry:              {Name: "INQUIRY", Dir: DirRead, AllowedWithUA: true, Supported: true},
	OpModeSelect6:          {Name: "MODE SELECT(6)", Dir: DirWrite, ConflictsWithReservation: true, Supported: true},
	OpReserve6:             {Name: "RESERVE(6)", Dir: DirNone, ConflictsWithReservation: true, Supported: true},
	OpRelease6:             {Name: "RELEASE(6)", Dir: DirNone, Supported: true},
	OpModeSense6:           {Name: "MODE SENSE(6)", Dir: DirRead, ConflictsWithReservation: true, Supported: true},
	OpStartStopUnit:        {Name: "START STOP UNIT", Dir: DirNone, ConflictsWithReservation: true, Supported: true},
	OpReceiveDiagnostic:    {Name: "RECEIVE DIAGNOSTIC RESULTS", Dir: DirRead},
	OpSendDiagnostic:       {Name: "SEND DIAGNOSTIC", Dir: DirWrite, ConflictsWithReservation: true},
	OpPreventAllowRemoval:  {Name: "PREVENT ALLOW MEDIUM REMOVAL", Dir: DirNone, ConflictsWithReservation: true, Supported: true},
	OpReadCapacity10:       {Name: "READ CAPACITY(10)", Dir: DirRead, Supported: true},
	OpRead10:               {Name: "READ(10)", Dir: DirRead, ConflictsWithReservation: true, Supported: true},
	OpWrite10:              {Name: "WRITE(10)", Dir: DirWrite, ConflictsWithReservation: true, Supported: true},
	OpWriteAndVerify10:     {Name: "WRITE AND VERIFY(10)", Dir: DirWrite, ConflictsWithReservation: true, Supported: true},
	OpVerify10:             {Name: "VERIFY(10)", Dir: DirWrite, ConflictsWithReservation: true, Supported: true},
	OpPrefetch10:           {Name: "PRE-FETCH(10)", Dir: DirNone, ConflictsWithReservation: true, Supported: true},
	OpSynchronizeCache10:   {Name: "SYNCHRONIZE CACHE(10)", Dir: DirNone, ConflictsWithReservation: true, Supported: true},
	OpReadDefectData10:     {Name: "READ DEFECT DATA(10)", Dir: DirRead, Supported: true},
	OpWriteBuffer:          {Name: "WRITE BUFFER", Dir: DirWrite, ConflictsWithReservation: true},
	OpReadBuffer:           {Name: "READ BUFFER", Dir: DirRead, ConflictsWithReservation: true},
	OpWriteSame10:          {Name: "WRITE SAME(10)", Dir: DirWrite, ConflictsWithReservation: true, Supported: true},
	OpUnmap:                {Name: "UNMAP", Dir: DirWrite, ConflictsWithReservation: true, Supported: true},
	OpSanitize:             {Name: "SANITIZE", Dir: DirWrite, ConflictsWithReservation: true, Supported: true},
	OpLogSelect:            {Name: "LOG SELECT", Dir: DirWrite, ConflictsWithReservation: true},
	OpLogSense:             {Name: "LOG SENSE", Dir: DirRead},
	OpModeSelect10:         {Name: "MODE SELECT(10)", Dir: DirWrite, ConflictsWithReservation: true, Supported: true},
	OpReserve10:            {Name: "RESERVE(10)", Dir: DirNone, ConflictsWithReservation: true, Supported: true},
	OpRelease10:            {Name: "RELEASE(10)", Dir: DirNone, Supported: true},
	OpModeSense10:          {Name: "MODE SENSE(10)", Dir: DirRead, ConflictsWithReservation: true, Supported: true},
	OpPersistentReserveIn:  {Name: "PERSISTENT RESERVE IN", Dir: DirRead, Supported: true},
	OpPersistentReserveOut: {Name: "PERSISTENT RESERVE OUT", Dir: DirWrite, Supported: true},
	OpExtendedCopy:         {Name: "EXTENDED COPY", Dir: DirWrite, ConflictsWithReservation: true, Supported: true},
	OpReceiveCopyResults:   {Name: "RECEIVE COPY RESULTS", Dir: DirRead, Supported: true},
	OpRead16:               {Name: "READ(16)", Dir: DirRead, ConflictsWithReservation: true, Supported: true},
	OpCompareAndWrite:      {Name: "COMPARE AND WRITE", Dir: DirWrite, ConflictsWithReservation: true, Supported: true},
	OpWrite16:              {Name: "WRITE(16)", Dir: DirWrite, ConflictsWithReservation: true, Supported: true},
	OpORWrite:              {Name: "ORWRITE(16)", Dir: DirWrite, ConflictsWithReservation: true, Supported: true},
	OpWriteAndVerify16:     {Name: "WRITE AND VERIFY(16)", Dir: DirWrite, ConflictsWithReservation: true, Supported: true},
	OpVerify16:             {Name: "VERIFY(16)", Dir: DirWrite, ConflictsWithReservation: true, Supported: true},
	OpPrefetch16:           {Name: "PRE-FETCH(16)", Dir: DirNone, ConflictsWithReservation: true, Supported: true},
	OpSynchronizeCache16:   {Name: "SYNCHRONIZE CACHE(16)", Dir: DirNone, ConflictsWithReservation: true, Supported: true},
	OpWriteSame16:          {Name: "WRITE SAME(16)", Dir: DirWrite, ConflictsWithReservation: true, Supported: true},
	OpWriteAtomic16:        {Name: "WRITE ATOMIC(16)", Dir: DirWrite, ConflictsWithReservation: true},
	OpServiceActionIn16:    {Name: "SERVICE ACTION IN(16)", Dir: DirRead, Supported: true},
	OpReportLUNs:           {Name: "REPORT LUNS", Dir: DirRead, AllowedWithUA: true, Supported: true},
	OpMaintenanceIn:        {Name: "MAINTENANCE IN", Dir: DirRead, Supported: true},
	OpMaintenanceOut:       {Name: "MAINTENANCE OUT", Dir: DirWrite, ConflictsWithReservation: true},
	OpRead12:               {Name: "READ(12)", Dir: DirRead, ConflictsWithReservation: true, Supported: true},
	OpWrite12:              {Name: "WRITE(12)", Dir: DirWrite, ConflictsWithReservation: true, Supported: true},
	OpWriteAndVerify12:     {Name: "WRITE AND VERIFY(12)", Dir: DirWrite, ConflictsWithReservation: true, Supported: true},
	OpVerify12:             {Name: "VERIFY(12)", Dir: DirWrite, ConflictsWithReservation: true, Supported: true},
	OpReadDefectData12:     {Name: "READ DEFECT DATA(12)", Dir: DirRead, Supported: true},
}
