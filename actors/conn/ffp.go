package conn

import (
	"encoding/binary"
	"fmt"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/atgt/atgt/actors/bufpool"
	"github.com/atgt/atgt/actors/cmdsn"
	"github.com/atgt/atgt/actors/login"
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/iscsi"
	"github.com/atgt/atgt/messages/scsi"
)

const reservedTag = 0xffffffff

// fullFeature is the behaviour after a successful login.
func (c *connActor) fullFeature(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *pduIn:
		c.pduIn(ctx, m)
	case *pduBatch:
		for _, in := range m.items {
			c.pduIn(ctx, in)
		}
	case *dataDigestFailed:
		// RFC 7143 7.8: discard the PDU and Reject it; at ERL 0 the initiator recovers
		// the task itself.
		c.reject(iscsi.RejectDataDigest, &m.p.BHS)
	case *pb.CommandReady:
		c.ready(ctx, m)
	case *pb.ScsiCompletion:
		c.complete(ctx, m)
	case *pb.TaskManagementDone:
		c.tmfDone(ctx, m)
	case *actor.ReceiveTimeout:
		c.idle(ctx)
	}
}

// pduIn takes one PDU from the reader (alone or from a batch, in order).
func (c *connActor) pduIn(ctx actor.Context, m *pduIn) {
	if c.log.IsDebug() {
		c.log.Debug("pdu in", "pdu", m.p.String())
	}
	if c.pingPending {
		// Anything from the initiator answers the ping.
		c.pingPending = false
		ctx.SetReceiveTimeout(c.cfg.NopInterval)
	}
	c.handlePDU(ctx, m.p, m.pooled)
}

// handlePDU acts on one PDU; pooled says its data segment is a bufpool buffer, which
// goes back to the pool here unless a task adopted it.
func (c *connActor) handlePDU(ctx actor.Context, p *iscsi.PDU, pooled bool) {
	discovery := c.result.SessionType == "Discovery"
	if pooled {
		defer func() {
			if pooled {
				bufpool.Put(p.Data)
			}
		}()
	}
	switch op := p.BHS.Opcode(); {
	case op == iscsi.OpSCSICmd && !discovery:
		if c.scsiCommand(ctx, p, pooled) {
			pooled = false // the task's write buffer now
		}
	case op == iscsi.OpDataOut && !discovery:
		if c.dataOut(ctx, p, pooled) {
			pooled = false // one of the task's write data parts now
		}
	case op == iscsi.OpNopOut:
		if p.BHS.ITT() == reservedTag {
			return // the answer to our ping; arriving was enough
		}
		c.order(ctx, p, nil)
	case op == iscsi.OpTextReq, op == iscsi.OpLogoutReq, op == iscsi.OpTaskMgmtReq && !discovery:
		c.order(ctx, p, nil)
	case op == iscsi.OpSNACKReq:
		c.reject(iscsi.RejectSNACK, &p.BHS)
	default:
		c.reject(iscsi.RejectProtocolError, &p.BHS)
	}
}

// order sends a CmdSN-carrying request to the session for ordering: a SCSI task's
// with the messages allocated in its task, anything else's on its own.
func (c *connActor) order(ctx actor.Context, p *iscsi.PDU, tk *task) {
	var o *pb.CommandOrder
	if tk != nil {
		o = &tk.msg.order
		o.Task, o.Ready = tk.t, &tk.msg.ready
	} else {
		o = &pb.CommandOrder{}
		c.others[p.BHS.ITT()] = p
	}
	o.CmdSn, o.Immediate, o.Itt = p.BHS.CmdSN(), p.BHS.Immediate(), p.BHS.ITT()
	ctx.Send(ctx.Parent(), o)
}

// ready runs a request the session released in CmdSN order.
func (c *connActor) ready(ctx actor.Context, m *pb.CommandReady) {
	if m.Task != nil {
		tk := c.tasks[m.Itt]
		if tk == nil || tk.t != m.Task {
			// Answered already (its completion overtook this message), and the
			// initiator may have reused the ITT for a newer task: leave that alone.
			return
		}
		if m.Dropped {
			c.forget(tk) // never answered: the initiator sees a CmdSN gap
			return
		}
		tk.ordered = true
		delete(c.unordered, m.Itt)
		if tk.preAnswer {
			c.finishTask(tk, tk.preStatus, tk.preSense, nil, 0, nil)
			return
		}
		c.solicit(tk)
		c.maybeDispatch(ctx, tk)
		return
	}
	p := c.others[m.Itt]
	if p == nil {
		return
	}
	delete(c.others, m.Itt)
	if m.Dropped {
		return
	}
	switch p.BHS.Opcode() {
	case iscsi.OpNopOut:
		c.nopIn(p)
	case iscsi.OpTextReq:
		c.text(p)
	case iscsi.OpLogoutReq:
		c.logout(ctx, p)
	case iscsi.OpTaskMgmtReq:
		c.taskMgmt(ctx, p)
	}
}

// scsiCommand turns a SCSI Command PDU into a task (RFC 7143 11.3). When the
// immediate data is the whole transfer of a plain WRITE and came in a pooled buffer,
// that buffer becomes the task's (no copy) and scsiCommand reports true.
func (c *connActor) scsiCommand(ctx actor.Context, p *iscsi.PDU, pooled bool) (adopted bool) {
	h := &p.BHS
	itt := h.ITT()
	if _, dup := c.tasks[itt]; dup {
		c.reject(iscsi.RejectTaskInProgress, h)
		return
	}
	flags := h.Flags()
	read, write := flags&0x40 != 0, flags&0x20 != 0
	edtl := h.ExpectedDataTransferLength()
	imm := uint32(len(p.Data))
	// Immediate data is bounded by the negotiation; more than the initiator may send
	// is a protocol error (RFC 7143 13.12-13.14).
	if imm > 0 && (!write || !c.params.ImmediateData || imm > c.params.FirstBurstLength || imm > edtl) {
		c.reject(iscsi.RejectProtocolError, h)
		return
	}
	if flags&0x80 == 0 && c.params.InitialR2T {
		c.reject(iscsi.RejectProtocolError, h)
		return
	}
	// The CDB stays in the PDU's header, which nothing else changes.
	cdb := h.CDB()
	if ext := extendedCDB(p.AHS); ext != nil {
		cdb = append(cdb[:len(cdb):len(cdb)], ext...)
	}
	lun, lunOK := decodeLUN(h.LUN())
	tk := c.taskSlab.New()
	tk.edtl, tk.read, tk.write, tk.lunRaw = edtl, read, write, h.LUN()
	t := &tk.msg.task
	t.Itt, t.Lun, t.Cdb, t.ExpectedLength, t.Read, t.Write = itt, lun, cdb, edtl, read, write
	t.Attribute, t.CmdSn, t.Immediate = pb.TaskAttribute(flags&7), h.CmdSN(), h.Immediate()
	t.Nexus, t.Target, t.ReplyTo = c.nexus(), c.result.Target.Name, c.self
	tk.t = t
	c.tasks[itt] = tk
	if !t.Immediate {
		c.unordered[itt] = tk
	}
	switch {
	case !lunOK:
		t.Lun = 1 << 62 // matches no configured LUN: LOGICAL UNIT NOT SUPPORTED
	case read && write:
		// Bidirectional commands are not supported by any command this target serves.
		tk.answer(uint32(scsi.StatusCheckCondition), scsi.AppendSense(nil, scsi.InvalidFieldInCDB(0, -1)))
	case write && edtl > c.cfg.MaxTaskBytes:
		tk.answer(uint32(scsi.StatusCheckCondition), scsi.AppendSense(nil, scsi.InvalidFieldInCDB(0, -1)))
	case len(c.tasks) > 2*int(c.cfg.QueueDepth) || (write && c.buffered+uint64(edtl) > c.cfg.MaxBufferedBytes):
		// Immediate commands bypass the CmdSN window; this bounds what one connection
		// can make the target hold (SAM-5 TASK SET FULL asks the initiator to retry).
		tk.answer(uint32(scsi.StatusTaskSetFull), nil)
		c.log.Debug("task set full", "tasks", len(c.tasks), "cmdsn", h.CmdSN(), "immediate", h.Immediate())
	}
	if write && edtl > 0 && !tk.preAnswer {
		switch {
		case pooled && imm == edtl && plainWrite(cdb[0]):
			tk.buf, tk.pooled, adopted = p.Data, true, true
		case (pooled || imm == 0) && plainWrite(cdb[0]):
			// The rest comes in Data-Out PDUs: keep every PDU's buffer.
			tk.segmented = true
			if imm > 0 {
				tk.parts, adopted = append(tk.parts, p.Data), true
			}
		case plainWrite(cdb[0]):
			tk.buf = bufpool.Get(int(edtl))
			tk.pooled = true
		default:
			tk.buf = make([]byte, edtl)
		}
		c.buffered += uint64(edtl)
		if !adopted && !tk.segmented {
			copy(tk.buf, p.Data)
		}
		tk.received = imm
		tk.nextOffset = imm
		tk.unsolNext = imm
		if flags&0x80 == 0 {
			// Unsolicited Data-Out follows, up to FirstBurstLength in all.
			first := min(c.params.FirstBurstLength, edtl)
			if first > imm {
				tk.unsolLeft = first - imm
				tk.nextOffset = first
			}
		}
		if !tk.complete() {
			t.DataPending = true
		} else {
			tk.attachData()
		}
	}
	if tk.preAnswer {
		t.DataPending = true // answered by the connection once ordered
	}
	// A task whose data is complete goes from the session to its LUN with no
	// CommandReady back; see dispatched.
	tk.sessionDispatches = !t.DataPending
	c.order(ctx, p, tk)
	return adopted
}

// extendedCDB returns the CDB bytes beyond 16 from an Extended CDB AHS (type 1).
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

// solicit sends R2Ts for write data not yet covered, up to MaxOutstandingR2T.
func (c *connActor) solicit(tk *task) {
	if !tk.collects() || !tk.ordered {
		return
	}
	var out []*iscsi.PDU
	for tk.nextOffset < tk.edtl && tk.outstanding < int(c.params.MaxOutstandingR2T) {
		n := min(c.params.MaxBurstLength, tk.edtl-tk.nextOffset)
		r := &r2t{tk: tk, ttt: c.newTTT(), offset: tk.nextOffset, length: n}
		c.r2ts[r.ttt] = r
		tk.nextOffset += n
		tk.outstanding++
		p := &iscsi.PDU{}
		h := &p.BHS
		h.SetOpcode(iscsi.OpR2T)
		h.SetFlags(0x80)
		h.SetLUN(tk.lunRaw)
		h.SetITT(tk.t.Itt)
		h.SetTTT(r.ttt)
		h.SetStatSN(c.statSN)
		c.window(h)
		h.SetR2TSN(tk.r2tSN)
		tk.r2tSN++
		h.SetBufferOffset(r.offset)
		h.SetDesiredDataTransferLength(n)
		out = append(out, p)
	}
	if len(out) > 0 {
		c.send(out...)
	}
}

// dataOut stores one Data-Out PDU's payload in its task (RFC 7143 11.7). It reports
// whether the task adopted the PDU's pooled buffer as one of its parts.
func (c *connActor) dataOut(ctx actor.Context, p *iscsi.PDU, pooled bool) (adopted bool) {
	h := &p.BHS
	n := uint32(len(p.Data))
	off := h.BufferOffset()
	var tk *task
	var r *r2t
	if ttt := h.TTT(); ttt != reservedTag {
		r = c.r2ts[ttt]
		if r == nil || r.tk.t.Itt != h.ITT() {
			c.reject(iscsi.RejectInvalidPDUField, h)
			return
		}
		tk = r.tk
		// DataPDUInOrder=Yes (the only value this target negotiates): each PDU
		// continues where the previous one ended, so a completed burst has no holes.
		if h.DataSN() != r.dataSN || off != r.offset+r.got || off+n > r.offset+r.length || off+n < off {
			c.reject(iscsi.RejectProtocolError, h)
			return
		}
		r.dataSN++
		r.got += n
	} else {
		tk = c.tasks[h.ITT()]
		if tk == nil || !tk.collects() {
			c.reject(iscsi.RejectInvalidPDUField, h)
			return
		}
		if h.DataSN() != tk.unsolDataSN || n > tk.unsolLeft || off != tk.unsolNext || off+n > tk.edtl || off+n < off {
			c.reject(iscsi.RejectProtocolError, h)
			return
		}
		tk.unsolDataSN++
		tk.unsolLeft -= n
		tk.unsolNext += n
	}
	switch {
	case n == 0:
	case tk.segmented && pooled && off == tk.received:
		// In order, as DataPDUInOrder=Yes promises: the buffer becomes the next part.
		tk.parts, adopted = append(tk.parts, p.Data), true
	case tk.segmented:
		tk.gather()
		fallthrough
	default:
		copy(tk.buf[off:], p.Data)
	}
	tk.received += n
	if r != nil && r.got >= r.length {
		delete(c.r2ts, r.ttt)
		tk.outstanding--
	}
	if r == nil && h.Final() && tk.unsolLeft > 0 {
		tk.unsolLeft = 0
	}
	if tk.complete() {
		tk.attachData()
		c.maybeDispatch(ctx, tk)
		return adopted
	}
	c.solicit(tk)
	return adopted
}

// maybeDispatch sends a task whose data is complete and whose turn has come.
func (c *connActor) maybeDispatch(ctx actor.Context, tk *task) {
	if tk.dispatched || !tk.ordered || (tk.collects() && !tk.complete()) {
		return
	}
	tk.dispatched = true
	tk.t.DataPending = false
	tk.attachData()
	ctx.Send(c.cfg.Dispatcher, tk.t)
}

// complete answers a finished task: Data-In split by the initiator's
// MaxRecvDataSegmentLength, the status folded into the last Data-In when it is GOOD,
// residuals from the expected and actual transfer lengths (RFC 7143 11.4.5).
func (c *connActor) complete(ctx actor.Context, m *pb.ScsiCompletion) {
	tk := c.tasks[m.Itt]
	if tk == nil {
		return
	}
	if tk.aborted {
		c.forget(tk)
		if p := tk.abortedBy; p != nil {
			p.waiting--
			c.tmfCheck(ctx, p)
		}
		return
	}
	var release []byte
	if m.Pooled {
		release = m.DataIn
	}
	c.finishTask(tk, m.Status, m.Sense, m.DataIn, m.TransferLength, release)
}

// finishTask sends the task's Data-In and status; release, if set, is a bufpool
// buffer that data points into, returned by the writer once it has been sent.
func (c *connActor) finishTask(tk *task, status uint32, sense, data []byte, transfer uint32, release []byte) {
	c.forget(tk)
	var resFlags uint8
	var residual uint32
	if transfer > 0 || tk.read {
		if tk.read && transfer < uint32(len(data)) {
			transfer = uint32(len(data))
		}
		switch {
		case transfer > tk.edtl:
			resFlags, residual = 0x04, transfer-tk.edtl
		case transfer < tk.edtl:
			resFlags, residual = 0x02, tk.edtl-transfer
		}
	}
	if !tk.read {
		data = nil
	}
	if uint32(len(data)) > tk.edtl {
		data = data[:tk.edtl]
	}
	seg := c.params.MaxRecvDataSegmentLength
	burst := c.params.MaxBurstLength
	collapse := status == uint32(scsi.StatusGood) && len(data) > 0
	var dataSN uint32
	for off := uint32(0); off < uint32(len(data)); {
		n := min(seg, uint32(len(data))-off)
		// A Data-In sequence ends at each MaxBurstLength boundary.
		if rem := burst - off%burst; n > rem {
			n = rem
		}
		last := off+n == uint32(len(data))
		p := tk.pdu()
		p.Data = data[off : off+n]
		h := &p.BHS
		h.SetOpcode(iscsi.OpDataIn)
		var f uint8
		if last || (off+n)%burst == 0 {
			f |= 0x80
		}
		h.SetLUN(tk.lunRaw)
		h.SetITT(tk.t.Itt)
		h.SetTTT(reservedTag)
		if last && collapse {
			f |= 0x01 | resFlags
			h.SetStatus(uint8(status))
			h.SetStatSN(c.nextStatSN())
			h.SetResidualCount(residual)
		}
		h.SetFlags(f)
		c.window(h)
		h.SetDataSN(dataSN)
		dataSN++
		h.SetBufferOffset(off)
		c.emit(p)
		off += n
	}
	if !collapse {
		p := tk.pdu()
		h := &p.BHS
		h.SetOpcode(iscsi.OpSCSIResp)
		h.SetFlags(0x80 | resFlags)
		h.SetResponse(0)
		h.SetStatus(uint8(status))
		h.SetITT(tk.t.Itt)
		h.SetStatSN(c.nextStatSN())
		c.window(h)
		if tk.read {
			h.SetExpDataSN(dataSN)
		} else {
			h.SetExpDataSN(tk.r2tSN)
		}
		h.SetResidualCount(residual)
		if len(sense) > 0 {
			p.Data = make([]byte, 2+len(sense))
			binary.BigEndian.PutUint16(p.Data, uint16(len(sense)))
			copy(p.Data[2:], sense)
		}
		c.emit(p)
	}
	if release != nil {
		c.out.release = append(c.out.release, release)
	}
}

// nopIn answers a NOP-Out that expects a reply (RFC 7143 11.18-11.19).
func (c *connActor) nopIn(req *iscsi.PDU) {
	p := &iscsi.PDU{Data: req.Data}
	h := &p.BHS
	h.SetOpcode(iscsi.OpNopIn)
	h.SetFlags(0x80)
	h.SetLUN(req.BHS.LUN())
	h.SetITT(req.BHS.ITT())
	h.SetTTT(reservedTag)
	h.SetStatSN(c.nextStatSN())
	c.window(h)
	c.send(p)
}

// idle pings an initiator that has been silent for the NOP interval, and drops a
// connection whose initiator sent nothing within the NOP timeout after a ping.
// protoactor cancels a receive timeout when it fires, so each call arms the next.
func (c *connActor) idle(ctx actor.Context) {
	if c.pingPending {
		c.log.Warn("initiator did not answer NOP-In; closing connection", "initiator", c.result.InitiatorName)
		c.finish(ctx, "nop timeout")
		return
	}
	ctx.SetReceiveTimeout(c.cfg.NopTimeout)
	c.pingPending = true
	c.pingTTT = c.newTTT()
	p := &iscsi.PDU{}
	h := &p.BHS
	h.SetOpcode(iscsi.OpNopIn)
	h.SetFlags(0x80)
	h.SetITT(reservedTag)
	h.SetTTT(c.pingTTT)
	h.SetStatSN(c.statSN) // not advanced: ITT is reserved
	c.window(h)
	c.send(p)
}

// text answers a Text Request: SendTargets, and NotUnderstood for keys not
// negotiable in the full feature phase (RFC 7143 11.10-11.11).
func (c *connActor) text(req *iscsi.PDU) {
	var resp []iscsi.KV
	kvs, err := iscsi.ParseText(req.Data)
	if err != nil {
		c.reject(iscsi.RejectProtocolError, &req.BHS)
		return
	}
	for _, kv := range kvs {
		if kv.Key == "SendTargets" {
			resp = append(resp, login.SendTargets(kv.Value, c.result.InitiatorName, c.result.Target.Name,
				c.result.SessionType == "Discovery", c.discoveryTargets())...)
			continue
		}
		resp = append(resp, iscsi.KV{Key: kv.Key, Value: "NotUnderstood"})
	}
	p := &iscsi.PDU{Data: iscsi.AppendText(nil, resp...)}
	h := &p.BHS
	h.SetOpcode(iscsi.OpTextResp)
	h.SetFlags(0x80)
	h.SetITT(req.BHS.ITT())
	h.SetTTT(reservedTag)
	h.SetStatSN(c.nextStatSN())
	c.window(h)
	c.send(p)
}

// logout answers a Logout Request and closes the connection after the response
// (RFC 7143 11.14-11.15).
func (c *connActor) logout(ctx actor.Context, req *iscsi.PDU) {
	reason := req.BHS.Flags() & 0x7f
	var response uint8
	if reason == 2 {
		response = 2 // connection recovery is not supported at ErrorRecoveryLevel 0
	}
	p := &iscsi.PDU{}
	h := &p.BHS
	h.SetOpcode(iscsi.OpLogoutResp)
	h.SetFlags(0x80)
	h.SetResponse(response)
	h.SetITT(req.BHS.ITT())
	h.SetStatSN(c.nextStatSN())
	c.window(h)
	if response != 0 {
		c.send(p)
		return
	}
	c.log.Info("logout", "initiator", c.result.InitiatorName, "reason", reason)
	c.nexusLost(ctx)
	c.sendAndClose(p)
	c.finish(ctx, fmt.Sprintf("logout reason %d", reason))
}

// taskMgmt handles a Task Management Function Request (RFC 7143 11.5). The
// connection suppresses the responses of the tasks it aborts (tasks already with a
// LUN finish there); functions that change logical unit state (task sets, resets)
// also go through the dispatcher to the LUNs concerned, and the response waits for
// their answers, so that a unit attention they raise is in place before the
// initiator's next command can reach the LUN.
func (c *connActor) taskMgmt(ctx actor.Context, req *iscsi.PDU) {
	h := &req.BHS
	fn := h.Flags() & 0x7f
	itt := h.ITT()
	p := &pendingTMF{fn: fn, itt: itt}
	switch fn {
	case 1: // ABORT TASK
		tk := c.tasks[h.Field32(20)]
		if tk == nil || tk.lunRaw != h.LUN() {
			c.tmfResponse(ctx, itt, fn, 1) // task does not exist (or already completed)
			return
		}
		c.abort(tk, p)
		c.tmfs[itt] = p
		c.tmfCheck(ctx, p)
	case 2, 4, 5, 6, 7: // ABORT TASK SET, CLEAR TASK SET, LU RESET, TARGET WARM/COLD RESET
		lun, ok := decodeLUN(h.LUN())
		if !ok && fn < 6 {
			c.tmfResponse(ctx, itt, fn, 2) // LUN does not exist
			return
		}
		for _, tk := range c.tasks {
			if fn >= 6 || tk.lunRaw == h.LUN() {
				c.abort(tk, p)
			}
		}
		p.lunsPending = true
		c.tmfs[itt] = p
		ctx.Send(c.cfg.Dispatcher, &pb.TaskManagement{
			Function: pb.TmfFunction(fn), Itt: itt, Target: c.result.Target.Name, Lun: lun,
			Nexus: c.nexus(), ReplyTo: c.self,
		})
	case 9: // QUERY TASK (RFC 7144 5.1.1)
		if tk := c.tasks[h.Field32(20)]; tk != nil && tk.lunRaw == h.LUN() && !tk.aborted {
			c.tmfResponse(ctx, itt, fn, 7) // function succeeded: the task exists
		} else {
			c.tmfResponse(ctx, itt, fn, 0)
		}
	case 10: // QUERY TASK SET
		for _, tk := range c.tasks {
			if tk.lunRaw == h.LUN() && !tk.aborted {
				c.tmfResponse(ctx, itt, fn, 7)
				return
			}
		}
		c.tmfResponse(ctx, itt, fn, 0)
	default:
		c.tmfResponse(ctx, itt, fn, 5) // function not supported (TASK REASSIGN needs ERL 2)
	}
}

// pendingTMF is a task management function waiting for the tasks it aborted to leave
// the IO workers and for its LUNs' answers: RFC 7143 4.2.3.3 allows the response only
// once every affected task is terminated.
type pendingTMF struct {
	fn          uint8
	itt         uint32
	waiting     int  // aborted tasks still with a LUN or worker
	lunsPending bool // TaskManagement sent, answers not all back
	answers     uint32
	response    uint32
}

// tmfDone collects the LUNs' answers.
func (c *connActor) tmfDone(ctx actor.Context, m *pb.TaskManagementDone) {
	p := c.tmfs[m.Itt]
	if p == nil {
		return
	}
	p.answers++
	if m.Response != 0 && p.response == 0 {
		p.response = m.Response
	}
	if p.answers >= m.FanOut {
		p.lunsPending = false
	}
	c.tmfCheck(ctx, p)
}

// tmfCheck responds once nothing the function waits for is outstanding.
func (c *connActor) tmfCheck(ctx actor.Context, p *pendingTMF) {
	if p.waiting > 0 || p.lunsPending {
		return
	}
	delete(c.tmfs, p.itt)
	c.tmfResponse(ctx, p.itt, p.fn, uint8(p.response))
}

// tmfResponse sends a Task Management Function Response (RFC 7143 11.6); after a
// TARGET COLD RESET the connection is dropped, as SAM-5 has the target do.
func (c *connActor) tmfResponse(ctx actor.Context, itt uint32, fn, response uint8) {
	p := &iscsi.PDU{}
	rh := &p.BHS
	rh.SetOpcode(iscsi.OpTaskMgmtResp)
	rh.SetFlags(0x80)
	rh.SetResponse(response)
	rh.SetITT(itt)
	rh.SetStatSN(c.nextStatSN())
	c.window(rh)
	if fn == 7 && response == 0 {
		c.sendAndClose(p)
		c.finish(ctx, "target cold reset")
		return
	}
	c.send(p)
}

// abort terminates a task for a task management function: one not yet with a LUN is
// dropped at once; one with a LUN is marked, its response suppressed, and p waits for
// its completion.
func (c *connActor) abort(tk *task, p *pendingTMF) {
	if !c.dispatched(tk) {
		c.forget(tk)
		return
	}
	if tk.aborted {
		return
	}
	tk.aborted = true
	if len(tk.t.Cdb) > 0 && tk.t.Cdb[0] == scsi.OpSanitize {
		// A sanitize operation goes on through aborts and resets until it is done
		// (SBC-4 4.11.3); the function does not wait for it, and its late response
		// is suppressed like any aborted task's.
		return
	}
	tk.abortedBy = p
	p.waiting++
}

// dispatched reports whether the task has gone to its LUN (or is going: the session
// passes ExpCmdSN over a command just before sending it on). A task whose
// data was complete is dispatched by the session as soon as its CmdSN's turn comes.
func (c *connActor) dispatched(tk *task) bool {
	if tk.dispatched {
		return true
	}
	return tk.sessionDispatches && (tk.t.Immediate || cmdsn.Less(tk.t.CmdSn, c.cfg.Window.Exp()))
}

// forget drops a task and its R2Ts and releases its write buffer's accounting.
func (c *connActor) forget(tk *task) {
	delete(c.tasks, tk.t.Itt)
	if c.unordered[tk.t.Itt] == tk {
		delete(c.unordered, tk.t.Itt)
	}
	for ttt, r := range c.r2ts {
		if r.tk == tk {
			delete(c.r2ts, ttt)
		}
	}
	if tk.segmented {
		// Answered or never dispatched: no IO worker holds the parts.
		c.buffered -= uint64(tk.edtl)
		for i, b := range tk.parts {
			bufpool.Put(b)
			tk.parts[i] = nil
		}
		tk.parts, tk.segmented = nil, false
	}
	if tk.buf != nil {
		c.buffered -= uint64(len(tk.buf))
		if tk.pooled {
			// The task is answered (or was never dispatched): no IO worker holds it.
			bufpool.Put(tk.buf)
		}
		tk.buf = nil
	}
}

// reject sends a Reject carrying the offending header (RFC 7143 11.17).
func (c *connActor) reject(reason uint8, bad *iscsi.BHS) {
	c.log.Debug("reject", "reason", reason, "opcode", bad.Opcode().String(), "itt", bad.ITT())
	p := iscsi.NewReject(reason, bad)
	p.BHS.SetStatSN(c.nextStatSN())
	c.window(&p.BHS)
	c.send(p)
}

// nexus names the I_T nexus: initiator name and ISID, as SPC-4 identifies an
// initiator port.
func (c *connActor) nexus() string {
	if c.nexusID == "" {
		// Fixed once logged in; formatted once rather than per command.
		c.nexusID = fmt.Sprintf("%s,i,0x%x", c.result.InitiatorName, c.result.ISID)
	}
	return c.nexusID
}

// discoveryTargets lists the configured targets with this connection's local address
// as their TargetAddress: the address the initiator already reached us on.
func (c *connActor) discoveryTargets() []login.DiscoveryTarget {
	addr := c.cfg.Conn.LocalAddr().String() + ",1"
	out := make([]login.DiscoveryTarget, len(c.cfg.Discovery))
	for i, t := range c.cfg.Discovery {
		t.Addresses = []string{addr}
		out[i] = t
	}
	return out
}

// newTTT returns a target transfer tag not in use: never the reserved 0xffffffff.
func (c *connActor) newTTT() uint32 {
	c.nextTTT++
	if c.nextTTT == reservedTag {
		c.nextTTT = 1
	}
	return c.nextTTT
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
