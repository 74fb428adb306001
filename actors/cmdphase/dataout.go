package cmdphase

import (
	"github.com/atgt/atgt/messages/iscsi"
)

// solicit sends R2Ts for write data not yet covered, up to MaxOutstandingR2T, each
// for at most MaxBurstLength (RFC 7143 11.8).
func (m *Machine) solicit(tk *task) {
	if !tk.collects() || !tk.ordered {
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
	}
}

// dataOut stores one Data-Out PDU's payload in its task (RFC 7143 11.7). It reports
// whether the task adopted the PDU's pooled buffer as one of its parts.
func (m *Machine) dataOut(p *iscsi.PDU, pooled bool) (adopted bool) {
	h := &p.BHS
	n := uint32(len(p.Data))
	off := h.BufferOffset()
	var tk *task
	var r *r2t
	if ttt := h.TTT(); ttt != iscsi.ReservedTag {
		r = m.r2ts[ttt]
		if r == nil || r.tk.t.Itt != h.ITT() {
			m.reject(iscsi.RejectInvalidPDUField, h)
			return
		}
		tk = r.tk
		// DataPDUInOrder=Yes (the only value this target negotiates): each PDU
		// continues where the previous one ended, so a completed burst has no holes.
		if h.DataSN() != r.dataSN || off != r.offset+r.got || off+n > r.offset+r.length || off+n < off {
			m.reject(iscsi.RejectProtocolError, h)
			return
		}
		r.dataSN++
		r.got += n
	} else {
		tk = m.tasks[h.ITT()]
		if tk == nil || !tk.collects() {
			m.reject(iscsi.RejectInvalidPDUField, h)
			return
		}
		if h.DataSN() != tk.unsolDataSN || n > tk.unsolLeft || off != tk.unsolNext || off+n > tk.edtl || off+n < off {
			m.reject(iscsi.RejectProtocolError, h)
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
		m.gather(tk)
		fallthrough
	default:
		copy(tk.buf[off:], p.Data)
	}
	tk.received += n
	if r != nil && r.got >= r.length {
		delete(m.r2ts, r.ttt)
		tk.outstanding--
	}
	if r == nil && h.Final() && tk.unsolLeft > 0 {
		tk.unsolLeft = 0
	}
	if tk.complete() {
		tk.attachData()
		m.maybeDispatch(tk)
		return adopted
	}
	m.solicit(tk)
	return adopted
}

// maybeDispatch sends a task whose data is complete and whose turn has come.
func (m *Machine) maybeDispatch(tk *task) {
	if tk.dispatched || !tk.ordered || (tk.collects() && !tk.complete()) {
		return
	}
	tk.dispatched = true
	tk.t.DataPending = false
	tk.attachData()
	m.send(ToDispatcher, tk.t)
}
