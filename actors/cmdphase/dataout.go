package cmdphase

import (
	"github.com/atgt/atgt/actors/cmdsn"
	"github.com/atgt/atgt/messages/iscsi"
	"github.com/atgt/atgt/messages/scsi"
)

// solicit sends R2Ts for write data not yet covered, up to MaxOutstandingR2T, each
// for at most MaxBurstLength (RFC 7143 11.8).
func (m *Machine) solicit(tk *task) {
	if !tk.collects() || !tk.ordered || tk.failed != nil {
		return
	}
	for tk.nextOffset < tk.edtl && tk.outstanding < int(m.params.MaxOutstandingR2T) {
		n := min(m.params.MaxBurstLength, tk.edtl-tk.nextOffset)
		r := &r2t{tk: tk, ttt: m.newTTT(), offset: tk.nextOffset, length: n}
		m.r2ts[r.ttt] = r
		tk.nextOffset += n
		tk.outstanding++
		p := &iscsi.PDU{}
		h := &p.BHS
		h.SetOpcode(iscsi.OpR2T)
		h.SetFinal(true)
		h.SetLUN(tk.lunRaw)
		h.SetITT(tk.t.Itt)
		h.SetTTT(r.ttt)
		h.SetStatSN(m.statSN)
		m.window(h)
		h.SetR2TSN(tk.r2tSN)
		tk.r2tSN++
		h.SetBufferOffset(r.offset)
		h.SetDesiredDataTransferLength(n)
		m.emit(p)
		m.Out.OwesData = true
	}
}

// dataOut stores one Data-Out PDU's payload in its task (RFC 7143 11.7). It reports
// whether the task adopted the PDU's pooled buffer as one of its parts.
func (m *Machine) dataOut(p *iscsi.PDU, pooled bool) (adopted bool) {
	h := &p.BHS
	n := uint32(len(p.Data))
	off := h.BufferOffset()
	tk, r := m.dataTask(h)
	if tk == nil {
		m.reject(iscsi.RejectInvalidPDUField, h)
		return
	}
	if tk.failed != nil {
		// The task's data is lost: take the sequences' ends, nothing else.
		m.endSequence(tk, r, h, n)
		return
	}
	if r != nil {
		// DataPDUInOrder=Yes (the only value this target negotiates): each PDU
		// continues where the previous one ended, so a completed burst has no holes.
		if next := r.offset + r.got; h.DataSN() != r.dataSN || off != next || off+n > r.offset+r.length || off+n < off {
			if cmdsn.Less(r.dataSN, h.DataSN()) || off > next && off+n <= r.offset+r.length && off+n > off {
				m.lostData(tk, r, h, n) // a PDU before this one went missing
				return
			}
			m.reject(iscsi.RejectProtocolError, h)
			return
		}
		r.dataSN++
		r.got += n
	} else {
		if h.DataSN() != tk.unsolDataSN || n > tk.unsolLeft || off != tk.unsolNext || off+n > tk.edtl || off+n < off {
			if tk.unsolLeft > 0 && (cmdsn.Less(tk.unsolDataSN, h.DataSN()) ||
				off > tk.unsolNext && off+n <= tk.unsolNext+tk.unsolLeft && off+n > off) {
				m.lostData(tk, r, h, n)
				return
			}
			m.reject(iscsi.RejectProtocolError, h)
			return
		}
		tk.unsolDataSN++
		tk.unsolLeft -= n
		tk.unsolNext += n
	}
	if n > 0 {
		// Only data the task keeps is progress for the Data-Out timeout
		// (CheckDataOut): a rejected, out-of-sequence or empty Data-Out, or one for
		// a task whose data is lost, would let a peer that sends nothing of what it
		// owes hold the task and its write budget for ever.
		tk.progress++
	}
	switch {
	case n == 0:
	case tk.segmented && pooled && off == tk.received:
		// In order, as DataPDUInOrder=Yes promises: the buffer becomes the next part.
		tk.parts, adopted = append(tk.parts, p.Data), true
	case tk.segmented:
		m.gather(tk)
		fallthrough
	default:
		if tk.grows {
			tk.buf = growTo(tk.buf, off+n, tk.edtl)
		}
		copy(tk.buf[off:], p.Data)
	}
	tk.received += n
	if r != nil && r.got >= r.length {
		m.endR2T(r)
	}
	if h.Final() {
		switch {
		case r != nil && r.got < r.length:
			// The burst ended short of its R2T: the rest is never sent.
			m.endR2T(r)
			m.failData(tk, scsi.DataPhaseError())
			return adopted
		case r == nil && tk.unsolLeft > 0:
			// The unsolicited burst ended short of FirstBurstLength (or EDTL),
			// and R2Ts only ask for what lies beyond it.
			tk.unsolLeft = 0
			if !tk.complete() {
				m.failData(tk, scsi.NotEnoughUnsolicitedData())
				return adopted
			}
		}
	}
	if tk.complete() {
		if !tk.dispatched && !tk.sessionDispatches {
			// Else the task is its LUN's, which reads it: a late empty
			// Data-Out must not write to it.
			tk.attachData()
		}
		m.maybeDispatch(tk)
		return adopted
	}
	m.solicit(tk)
	return adopted
}

// dataTask finds the task a Data-Out PDU belongs to: by its TTT, the R2T it
// answers (r), or unsolicited, by its ITT. nil: no such task collects data.
func (m *Machine) dataTask(h *iscsi.BHS) (tk *task, r *r2t) {
	if ttt := h.TTT(); ttt != iscsi.ReservedTag {
		r = m.r2ts[ttt]
		if r == nil || r.tk.t.Itt != h.ITT() {
			return nil, nil
		}
		return r.tk, r
	}
	tk = m.tasks[h.ITT()]
	if tk == nil || !tk.collects() {
		return nil, nil
	}
	return tk, nil
}

// endR2T retires an R2T whose sequence is over.
func (m *Machine) endR2T(r *r2t) {
	if _, ok := m.r2ts[r.ttt]; ok {
		delete(m.r2ts, r.ttt)
		r.tk.outstanding--
	}
}

// lostData takes a Data-Out whose data, or some before it, never arrived: a
// digest error, or a DataSN or offset gap, which implies one (RFC 7143 7.9). This
// target does not ask for data again (recovery R2Ts need ErrorRecoveryLevel 1),
// so the task ends with CHECK CONDITION, PROTOCOL SERVICE CRC ERROR (7.8 b).
func (m *Machine) lostData(tk *task, r *r2t, h *iscsi.BHS, n uint32) {
	if tk.failed == nil {
		tk.failed = scsi.ProtocolServiceCRCError()
	}
	m.endSequence(tk, r, h, n)
}

// endSequence takes a Data-Out for a task whose data is lost: its F bit, and
// whether it reaches further into its sequence than any before it.
func (m *Machine) endSequence(tk *task, r *r2t, h *iscsi.BHS, n uint32) {
	if m.reaches(tk, r, h.BufferOffset(), n) {
		tk.progress++
	}
	if h.Final() {
		if r != nil {
			m.endR2T(r)
		} else {
			tk.unsolLeft = 0
		}
	}
	m.settle(tk)
}

// reaches reports whether a Data-Out for a task whose data is lost carries data
// beyond the furthest point of its sequence seen so far, and within it: the rest
// of a sequence the task waits for (settle), which a slow link may take longer than
// the Data-Out timeout to deliver, so it is progress for CheckDataOut. A Data-Out
// at an offset already reached, or outside its sequence, is not: each sequence is
// finite, so a peer cannot hold the task by sending.
func (m *Machine) reaches(tk *task, r *r2t, off, n uint32) bool {
	end := off + n
	if n == 0 || end < off {
		return false
	}
	if r != nil {
		// got, in-order bytes while the data was kept, is now the furthest end.
		if off < r.offset || end > r.offset+r.length || end <= r.offset+r.got {
			return false
		}
		r.got = end - r.offset
		return true
	}
	if tk.unsolLeft == 0 || off < tk.unsolNext || end > tk.unsolNext+tk.unsolLeft || end <= tk.unsolReach {
		return false
	}
	tk.unsolReach = end
	return true
}

// failData ends a task's data transfer with e (the first reason wins).
func (m *Machine) failData(tk *task, e *scsi.SenseError) {
	if tk.failed == nil {
		tk.failed = e
	}
	m.settle(tk)
}

// settle answers a task whose data is lost once the initiator has ended every
// sequence it was sending (F on the last Data-Out of each): RFC 7143 7.8 has the
// response wait for them, so that no Data-Out follows it. Until then its Data-Out
// is dropped silently, and no R2T asks for more.
func (m *Machine) settle(tk *task) {
	if tk.failed == nil || tk.preAnswer || tk.outstanding > 0 || tk.unsolLeft > 0 {
		return
	}
	tk.answer(uint32(scsi.StatusCheckCondition), scsi.AppendSense(nil, tk.failed))
	if tk.ordered {
		m.finishTask(tk, tk.preStatus, tk.preSense, nil, 0, nil)
	}
}

// maybeDispatch sends a task whose data is complete and whose turn has come.
func (m *Machine) maybeDispatch(tk *task) {
	if tk.dispatched || !tk.ordered || tk.failed != nil || (tk.collects() && !tk.complete()) {
		return
	}
	tk.dispatched = true
	tk.t.DataPending = false
	tk.attachData()
	m.send(ToDispatcher, tk.t)
}
