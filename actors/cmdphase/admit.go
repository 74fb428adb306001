package cmdphase

import (
	"encoding/binary"

	"github.com/atgt/atgt/actors/cmdsn"

	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/iscsi"
	"github.com/atgt/atgt/messages/scsi"
)

// noLUN is a LUN number no configured logical unit has: a command whose LUN field is
// not in a form this target decodes reaches the dispatcher, which answers LOGICAL
// UNIT NOT SUPPORTED.
const noLUN = 1 << 62

// scsiCommand turns a SCSI Command PDU into a task (RFC 7143 11.3) and sends it to
// the session for CmdSN order. When the immediate data is the whole transfer of a
// plain WRITE and came in a pooled buffer, that buffer becomes the task's (no copy)
// and scsiCommand reports true.
func (m *Machine) scsiCommand(p *iscsi.PDU, pooled bool) (adopted bool) {
	h := &p.BHS
	itt := h.ITT()
	if itt == iscsi.ReservedTag {
		m.rejectCommand(iscsi.RejectProtocolError, h)
		return
	}
	if m.inProgress(itt) {
		m.rejectCommand(iscsi.RejectTaskInProgress, h)
		return
	}
	read, write := h.CmdRead(), h.CmdWrite()
	edtl := h.ExpectedDataTransferLength()
	imm := uint32(len(p.Data))
	// Immediate data is bounded by the negotiation; more than the initiator may send
	// is a protocol error (RFC 7143 13.12-13.14).
	if imm > 0 && (!write || !m.params.ImmediateData || imm > m.params.FirstBurstLength || imm > edtl) {
		m.rejectCommand(iscsi.RejectProtocolError, h)
		return
	}
	if !h.Final() && m.params.InitialR2T {
		m.rejectCommand(iscsi.RejectProtocolError, h)
		return
	}
	// The CDB stays in the PDU's header, which nothing else changes.
	cdb := h.CDB()
	if ext := extendedCDB(p.AHS); ext != nil {
		cdb = append(cdb[:len(cdb):len(cdb)], ext...)
	}
	lun, lunOK := scsi.DecodeLUN(h.LUN())
	tk := m.taskSlab.New()
	tk.edtl, tk.read, tk.write, tk.lunRaw = edtl, read, write, h.LUN()
	t := &tk.msg.task
	t.Itt, t.Lun, t.Cdb, t.ExpectedLength, t.Read, t.Write = itt, lun, cdb, edtl, read, write
	t.Attribute, t.CmdSn, t.Immediate = pb.TaskAttribute(h.TaskAttr()), h.CmdSN(), h.Immediate()
	t.Nexus, t.Target, t.ReplyTo = m.nexus(), m.route, m.cfg.Self
	tk.t = t
	tk.arrival = m.arrivals
	m.tasks[itt] = tk
	if !t.Immediate && !cmdsn.Less(t.CmdSn, m.exp) {
		m.ahead.add(tk)
	}
	if !lunOK {
		t.Lun = noLUN
	}
	if read {
		tk.readHeld = true
		m.readHeld += m.readCharge(edtl)
	}
	switch {
	case read && write:
		// Bidirectional commands are not supported by any command this target serves.
		tk.answer(uint32(scsi.StatusCheckCondition), scsi.AppendSense(nil, scsi.InvalidFieldInCDB(0, -1)))
	case h.TaskAttr() > iscsi.TaskAttrHeadOfQueue:
		// ACA while no ACA condition exists (this target never establishes one: NACA
		// is refused), or a reserved attribute (5-7): refused as LIO does, not run
		// as SIMPLE (SAM-5 8.6).
		tk.answer(uint32(scsi.StatusCheckCondition), scsi.AppendSense(nil, scsi.InvalidFieldInCDB(0, -1)))
	case write && edtl > m.cfg.MaxTaskBytes:
		tk.answer(uint32(scsi.StatusCheckCondition), scsi.AppendSense(nil, scsi.InvalidFieldInCDB(0, -1)))
	case len(m.tasks) > 2*int(m.cfg.QueueDepth) || (write && m.buffered+uint64(edtl) > m.cfg.MaxBufferedBytes) ||
		(write && edtl > 0 && !m.cfg.WriteBudget.take(edtl)):
		// Immediate commands bypass the CmdSN window; this bounds what one connection
		// can make the target hold, and the budget what all of them hold together
		// (SAM-5 TASK SET FULL asks the initiator to retry). A WRITE admitted here
		// has taken its EDTL from the budget; unhold gives it back.
		tk.answer(uint32(scsi.StatusTaskSetFull), nil)
		m.log.Debug("task set full", "tasks", len(m.tasks), "cmdsn", h.CmdSN(), "immediate", h.Immediate())
	}
	if write && edtl > 0 && !tk.preAnswer {
		adopted = m.takeImmediate(tk, p, pooled, cdb[0])
	}
	if tk.preAnswer {
		t.DataPending = true // answered by the connection once ordered
	}
	// A task whose data is complete goes from the session to its LUN with no
	// CommandReady back.
	tk.sessionDispatches = !t.DataPending
	m.order(p, tk)
	return adopted
}

// takeImmediate sets a write task up to collect its data, starting with the
// immediate data: the pooled buffer itself when it is the whole transfer, one part
// of several when Data-Out PDUs follow, else a copy.
func (m *Machine) takeImmediate(tk *task, p *iscsi.PDU, pooled bool, op byte) (adopted bool) {
	edtl, imm := tk.edtl, uint32(len(p.Data))
	switch {
	case pooled && imm == edtl && plainWrite(op):
		tk.buf, tk.pooled, adopted = p.Data, true, true
	case (pooled || imm == 0) && plainWrite(op):
		// The rest comes in Data-Out PDUs: keep every PDU's buffer.
		tk.segmented = true
		if imm > 0 {
			tk.parts, adopted = append(tk.parts, p.Data), true
		}
	case plainWrite(op):
		tk.buf = m.pool.Get(int(edtl))
		tk.pooled = true
		copy(tk.buf, p.Data)
	default:
		// Not a pool buffer (its data may outlive the answer), and grown as the
		// data comes: EDTL alone must not make the target hold memory.
		tk.grows = true
		tk.buf = append([]byte(nil), p.Data...)
	}
	m.buffered += uint64(edtl) // counted whole: the admission's bound
	tk.holds = true
	tk.received = imm
	tk.nextOffset = imm
	tk.unsolNext = imm
	if !p.BHS.Final() {
		// Unsolicited Data-Out follows, up to FirstBurstLength in all.
		first := min(m.params.FirstBurstLength, edtl)
		if first > imm {
			tk.unsolLeft = first - imm
			tk.nextOffset = first
			m.Out.OwesData = true
		}
	}
	if !tk.complete() {
		tk.t.DataPending = true
	} else {
		tk.attachData()
	}
	return adopted
}

// orderRequest sends a NOP-Out, Text, Logout or task management request to the
// session for CmdSN order. Its data (NOP-Out ping data, which the NOP-In echoes, or
// Text keys) is held until the session releases the request, behind a CmdSN hole
// for as long as the hole lasts, so it counts as write data does: against the
// connection's MaxBufferedBytes and the target's WriteBudget. A request whose data
// would exceed either is rejected, Long Operation Reject (RFC 7143 11.17.1: the
// target is out of resources; a NOP-Out cannot be answered TASK SET FULL), and
// its CmdSN is taken, so no hole is left behind it.
func (m *Machine) orderRequest(p *iscsi.PDU) {
	n := uint32(len(p.Data))
	if n > 0 && (m.buffered+uint64(n) > m.cfg.MaxBufferedBytes || !m.cfg.WriteBudget.take(n)) {
		m.log.Debug("request data over the write data bounds", "itt", p.BHS.ITT(), "bytes", n)
		m.rejectCommand(iscsi.RejectLongOp, &p.BHS)
		return
	}
	m.buffered += uint64(n)
	m.order(p, nil)
}

// unholdRequest stops counting a request's data as write data (orderRequest).
func (m *Machine) unholdRequest(req request) {
	if req.held > 0 {
		m.buffered -= uint64(req.held)
		m.cfg.WriteBudget.give(req.held)
	}
}

// order sends a CmdSN-carrying request to the session for ordering: a SCSI task's
// with the messages allocated in its task, anything else's on its own (its data
// counted by orderRequest).
func (m *Machine) order(p *iscsi.PDU, tk *task) {
	var o *pb.CommandOrder
	if tk != nil {
		o = &tk.msg.order
		o.Task, o.Ready = tk.t, &tk.msg.ready
	} else {
		o = &pb.CommandOrder{}
		// A copy: the connection's PDU record lives in its reader's slab chunk,
		// whose records let go of their data once taken (conn's pduIn).
		q := *p
		m.others[p.BHS.ITT()] = request{p: &q, arrival: m.arrivals, held: uint32(len(p.Data))}
	}
	m.arrivals++
	o.CmdSn, o.Immediate, o.Itt = p.BHS.CmdSN(), p.BHS.Immediate(), p.BHS.ITT()
	o.MaxCmdSn = m.lastMax
	m.send(ToSession, o)
}

// consume has the session count a CmdSN as received without a request to run: a
// placeholder order (the reserved ITT, no task) that only advances ExpCmdSN when its
// turn comes. Outside the window, or repeated, the session drops it like any order.
func (m *Machine) consume(sn uint32) {
	m.send(ToSession, &pb.CommandOrder{CmdSn: sn, Itt: cmdsn.PlaceholderITT, MaxCmdSn: m.lastMax})
}

// extendedCDB returns the CDB bytes beyond 16 from an Extended CDB AHS (RFC 7143
// 11.2.2, type 1), or nil when there is none or the AHS is malformed.
func extendedCDB(ahs []byte) []byte {
	for len(ahs) >= 4 {
		n := int(binary.BigEndian.Uint16(ahs))
		typ := ahs[2]
		end := 3 + n
		if end > len(ahs) {
			return nil
		}
		if typ == 1 && n > 1 {
			return append([]byte(nil), ahs[4:end]...)
		}
		end = (end + 3) &^ 3
		if end > len(ahs) {
			return nil
		}
		ahs = ahs[end:]
	}
	return nil
}

// plainWrite reports the WRITE commands whose data buffer nothing uses after the task
// is answered, so it can go back to the pool (SANITIZE with IMMED, for one, is
// answered while its worker still reads its parameter data).
func plainWrite(op byte) bool {
	switch op {
	case scsi.OpWrite6, scsi.OpWrite10, scsi.OpWrite12, scsi.OpWrite16:
		return true
	}
	return false
}
