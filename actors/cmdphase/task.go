package cmdphase

import (
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/iscsi"
	"github.com/atgt/atgt/messages/scsi"
)

// task is the connection's record of one SCSI command from arrival to response.
type task struct {
	t       *pb.ScsiTask
	edtl    uint32
	read    bool
	write   bool
	lunRaw  uint64
	aborted bool
	arrival uint64 // order among the requests received
	ahead   bool   // counted in Machine.ahead
	// abortedBy are the task management functions waiting for this task to end
	// (a later function that covers it waits too).
	abortedBy []*pendingTMF
	// abortedByOther: another I_T nexus's function aborted the task set while the
	// task was at its LUN; its completion is answered TASK ABORTED instead.
	abortedByOther bool

	// Write data collection.
	buf    []byte
	pooled bool // buf comes from the Pool
	// grows: buf is the data received so far, grown as more comes (a command
	// other than a plain WRITE, whose buffer is not pooled).
	grows bool
	// holds: Machine.buffered (and the WriteBudget) counts edtl bytes for the
	// task's write data.
	holds bool
	// readHeld: Machine.readHeld counts the task's Data-In (readCharge).
	readHeld bool
	// progress counts the Data-Out PDUs with data the task accepted (in sequence,
	// kept); seen and stalls are what CheckDataOut last saw of it
	// (dataouttimeout.go).
	progress uint32
	seen     uint32
	stalls   uint8
	// segmented: the write data is kept as parts, the PDUs' own pooled buffers in
	// offset order, instead of being copied into buf (a plain WRITE whose data
	// comes in several PDUs); the IO worker writes them with one pwritev.
	segmented   bool
	parts       [][]byte
	received    uint32 // bytes of write data received
	nextOffset  uint32 // first offset not yet covered by unsolicited data or an R2T
	r2tSN       uint32
	outstanding int    // R2Ts sent whose data is not complete
	unsolLeft   uint32 // unsolicited Data-Out bytes still allowed
	unsolDataSN uint32
	unsolNext   uint32 // offset the next unsolicited Data-Out must start at
	unsolReach  uint32 // data lost: the furthest end of unsolicited data seen (reaches)
	// failed: write data was lost or cut short; the task is answered CHECK
	// CONDITION with this sense once every sequence has ended (settle).
	failed *scsi.SenseError

	ordered    bool // the session has put it in CmdSN order
	dispatched bool // by the connection, once its data arrived
	// sessionDispatches: the data was complete when the task was ordered, so the
	// session sends it to its LUN without handing it back.
	sessionDispatches bool
	// preAnswer answers the command with preStatus/preSense without running it (an
	// invalid request, or TASK SET FULL when the connection buffers too much).
	preAnswer bool
	preStatus uint32
	preSense  []byte

	// The messages and the response PDU every command needs, allocated with the task
	// in one piece: t points to msg.task. Each is used once, for this task only.
	msg struct {
		task  pb.ScsiTask
		order pb.CommandOrder
		ready pb.CommandReady
		resp  iscsi.PDU
		used  bool // resp is taken
	}
}

// pdu returns a PDU for the task's response: its own the first time, a new one after.
func (t *task) pdu() *iscsi.PDU {
	if !t.msg.used {
		t.msg.used = true
		return &t.msg.resp
	}
	return &iscsi.PDU{}
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

// collects reports whether the task is collecting (or has collected) write data.
func (t *task) collects() bool { return t.buf != nil || t.segmented || t.grows }

// growTo returns buf extended to n bytes (at most limit), its capacity doubled
// at most, so that memory follows the data received.
func growTo(buf []byte, n, limit uint32) []byte {
	if int(n) <= len(buf) {
		return buf
	}
	if int(n) > cap(buf) {
		c := min(max(int(n), 2*cap(buf)), int(limit))
		nb := make([]byte, len(buf), c)
		copy(nb, buf)
		buf = nb
	}
	return buf[:n]
}

// unhold stops counting the task's write data in Machine.buffered.
func (m *Machine) unhold(t *task) {
	if t.holds {
		t.holds = false
		m.buffered -= uint64(t.edtl)
		m.cfg.WriteBudget.give(t.edtl)
	}
}

// complete reports whether all write data has arrived.
func (t *task) complete() bool { return t.received >= t.edtl }

// answer marks the task to be answered with status and sense once it is in order.
func (t *task) answer(status uint32, sense []byte) {
	t.preAnswer, t.preStatus, t.preSense = true, status, sense
}

// attachData hands the collected write data to the task message: its parts, or buf.
func (t *task) attachData() {
	if t.segmented {
		t.t.DataOutParts = t.parts
		return
	}
	t.t.DataOut = t.buf
}

// gather copies the parts into one pooled buffer, for Data-Out that does not
// continue where the parts end (which DataPDUInOrder=Yes rules out).
func (m *Machine) gather(t *task) {
	buf := m.pool.Get(int(t.edtl))
	off := 0
	for i, b := range t.parts {
		off += copy(buf[off:], b)
		m.pool.Put(b)
		t.parts[i] = nil
	}
	t.buf, t.pooled = buf, true
	t.parts, t.segmented = nil, false
}

// disown gives up a task's write data without returning it to the pool: a backend
// call the LUN gave up on may still read it (the garbage collector frees it later).
func (m *Machine) disown(tk *task) {
	m.unhold(tk)
	tk.parts, tk.segmented = nil, false
	tk.buf, tk.grows = nil, false
}

// forget drops a task and its R2Ts, returns its write data, and tells a task
// management function waiting for it.
func (m *Machine) forget(tk *task) {
	delete(m.tasks, tk.t.Itt)
	for _, p := range tk.abortedBy {
		// A task management function waits for this task: it has ended.
		p.waiting--
		defer m.tmfCheck(p)
	}
	tk.abortedBy = nil
	m.ahead.remove(tk)
	if tk.readHeld {
		tk.readHeld = false
		m.readHeld -= m.readCharge(tk.edtl)
	}
	for ttt, r := range m.r2ts {
		if r.tk == tk {
			delete(m.r2ts, ttt)
		}
	}
	m.unhold(tk)
	if tk.segmented {
		// Answered or never dispatched: no IO worker holds the parts.
		for i, b := range tk.parts {
			m.pool.Put(b)
			tk.parts[i] = nil
		}
		tk.parts, tk.segmented = nil, false
		// The task message lives in a slab chunk (and a LUN's IO record may point
		// to it) after the task: it must not keep the pool's buffers reachable.
		tk.t.DataOutParts = nil
	}
	if tk.buf != nil {
		if tk.pooled {
			// The task is answered (or was never dispatched): no IO worker holds it.
			m.pool.Put(tk.buf)
			tk.t.DataOut = nil
		}
		tk.buf, tk.grows = nil, false
	}
}
