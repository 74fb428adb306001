package metrics

import "github.com/atgt/atgt/messages/scsi"

// Kind is the class of a SCSI command that its counters and latency histogram are
// kept under: the few classes an operator tells apart, not every opcode.
type Kind uint8

// The command kinds, by operation code (see KindOf).
const (
	KindRead Kind = iota
	KindWrite
	KindUnmap
	KindSync
	KindOther
	numKinds
)

// kindNames are the values of the "kind" label.
var kindNames = [numKinds]string{"read", "write", "unmap", "sync", "other"}

// String is the kind's label value.
func (k Kind) String() string {
	if k < numKinds {
		return kindNames[k]
	}
	return "other"
}

// kindByOp classifies every operation code with one load on the data path.
var kindByOp = func() (t [256]Kind) {
	for i := range t {
		t[i] = KindOther
	}
	for _, op := range []byte{scsi.OpRead6, scsi.OpRead10, scsi.OpRead12, scsi.OpRead16} {
		t[op] = KindRead
	}
	for _, op := range []byte{scsi.OpWrite6, scsi.OpWrite10, scsi.OpWrite12, scsi.OpWrite16,
		scsi.OpWriteAndVerify10, scsi.OpWriteAndVerify12, scsi.OpWriteAndVerify16,
		scsi.OpWriteSame10, scsi.OpWriteSame16, scsi.OpCompareAndWrite, scsi.OpORWrite, scsi.OpWriteAtomic16} {
		t[op] = KindWrite
	}
	t[scsi.OpUnmap] = KindUnmap
	t[scsi.OpSynchronizeCache10] = KindSync
	t[scsi.OpSynchronizeCache16] = KindSync
	return t
}()

// KindOf classifies a command by its CDB's operation code: READ(6/10/12/16) is read;
// WRITE, WRITE AND VERIFY, WRITE SAME, COMPARE AND WRITE, ORWRITE and WRITE ATOMIC are
// write; UNMAP is unmap; SYNCHRONIZE CACHE(10/16) is sync; anything else (INQUIRY,
// TEST UNIT READY, an empty CDB...) is other.
func KindOf(cdb []byte) Kind {
	if len(cdb) == 0 {
		return KindOther
	}
	return kindByOp[cdb[0]]
}
