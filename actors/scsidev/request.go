package scsidev

// Request is one SCSI command as the LUN sees it.
type Request struct {
	CDB []byte
	// DataOut is the write payload or parameter list, already fully
	// received.
	DataOut []byte
	// Nexus identifies the I_T nexus (initiator name + ISID) for unit
	// attentions.
	Nexus string
	// ExpectedLength is the iSCSI Expected Data Transfer Length.
	ExpectedLength uint32
}

// IOKind says what an IO worker must do for a command.
type IOKind uint8

// IO kinds.
const (
	IONone   IOKind = iota // no disk access; the Result is final
	IORead                 // read Length bytes at Offset
	IOWrite                // write Data at Offset
	IOSync                 // make [Offset, Offset+Length) durable
	IOVerify               // read Length bytes at Offset for comparison with Data
)

// IO is the disk work a command needs, planned by Execute and performed by
// an IO worker outside the LUN.
type IO struct {
	Kind   IOKind
	Offset int64
	Length int64
	// Stable asks that the write be durable before GOOD (FUA or WCE=0).
	Stable bool
	// Data is the payload for IOWrite, the expected data for IOVerify.
	Data []byte
}

// Result is the outcome of Execute or Complete.
type Result struct {
	Status uint8
	// Sense is the sense data for CHECK CONDITION.
	Sense []byte
	// Data is the data-in to return, already cut to the allocation length.
	Data []byte
	// IO, when its Kind is not IONone, must be performed and handed to
	// Complete; Status and Data are then not final.
	IO IO
}
