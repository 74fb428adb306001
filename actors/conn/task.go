package conn

import pb "github.com/atgt/atgt/messages/atgtv1"

// task is the connection's record of one SCSI command from arrival to response.
type task struct {
	t       *pb.ScsiTask
	edtl    uint32
	read    bool
	write   bool
	lunRaw  uint64
	aborted bool

	// Write data collection.
	buf         []byte
	received    uint32 // bytes of buf filled
	nextOffset  uint32 // first offset not yet covered by unsolicited data or an R2T
	r2tSN       uint32
	outstanding int    // R2Ts sent whose data is not complete
	unsolLeft   uint32 // unsolicited Data-Out bytes still allowed
	unsolDataSN uint32

	ordered    bool // the session has put it in CmdSN order
	dispatched bool
	// preSense answers the command without running it (e.g. EDTL too large).
	preSense []byte
}

// r2t is one outstanding R2T; its TTT identifies the Data-Out PDUs that answer it.
type r2t struct {
	tk     *task
	ttt    uint32
	offset uint32
	length uint32
	got    uint32
	dataSN uint32
}

// complete reports whether all write data has arrived.
func (t *task) complete() bool { return t.received >= t.edtl }
