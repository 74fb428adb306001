package cmdphase

import (
	"encoding/binary"

	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/iscsi"
	"github.com/atgt/atgt/messages/scsi"
)

// Complete answers a finished task: its Data-In and status. A task aborted by a task
// management function is forgotten instead, and the function is told; one aborted
// by another I_T nexus's function is answered TASK ABORTED (see AbortedByOther).
func (m *Machine) Complete(c *pb.ScsiCompletion) {
	tk := m.tasks[c.Itt]
	if tk == nil || tk.aborted {
		if c.Pooled {
			m.pool.Put(c.DataIn) // never sent
		}
	}
	if tk == nil {
		return
	}
	m.learn(tk.t.ExpCmdSn)
	if c.Detached {
		m.disown(tk)
	}
	if tk.aborted {
		m.forget(tk) // and a function waiting for it learns it has ended
		return
	}
	if tk.abortedByOther {
		// Aborted by another I_T nexus's function (TAS=1): the task has now left
		// its LUN, and its outcome is TASK ABORTED, whatever the LUN answered.
		if c.Pooled {
			m.pool.Put(c.DataIn) // never sent
		}
		m.finishTask(tk, uint32(scsi.StatusTaskAborted), nil, nil, 0, nil)
		return
	}
	var release []byte
	if c.Pooled {
		release = c.DataIn
	}
	m.finishTask(tk, c.Status, c.Sense, c.DataIn, c.TransferLength, release)
}

// residual returns the residual flags and count for a command that expected edtl
// bytes and whose transfer was transfer bytes (RFC 7143 11.4.5): overflow when the
// command wanted more, underflow when less moved.
func residual(edtl, transfer uint32) (flags uint8, count uint32) {
	switch {
	case transfer > edtl:
		return iscsi.FlagResidualOverflow, transfer - edtl
	case transfer < edtl:
		return iscsi.FlagResidualUnderflow, edtl - transfer
	}
	return 0, 0
}

// nextSegment returns the length of the Data-In PDU that starts at off of a total
// bytes transfer: at most seg (the initiator's MaxRecvDataSegmentLength), and ending
// at the next MaxBurstLength boundary, where a Data-In sequence ends (its F bit set,
// as in the sequence's last PDU).
func nextSegment(off, total, seg, burst uint32) (n uint32, final bool) {
	n = min(seg, total-off)
	if rem := burst - off%burst; n > rem {
		n = rem
	}
	end := off + n
	return n, end == total || end%burst == 0
}

// finishTask sends the task's Data-In and status: Data-In split by nextSegment, the
// status folded into the last Data-In when it is GOOD (phase collapse), else a SCSI
// Response with sense and residuals. release, if set, is a pooled buffer that data
// points into, returned by the writer once it has been sent.
func (m *Machine) finishTask(tk *task, status uint32, sense, data []byte, transfer uint32, release []byte) {
	m.forget(tk)
	var resFlags uint8
	var resCount uint32
	if tk.read && status != uint32(scsi.StatusGood) {
		// A read that did not succeed transferred only the data sent with it
		// (RFC 7143 11.4.5.1: the residual counts the bytes not transferred), so
		// that the initiator completes no block it did not receive: Linux's sd
		// takes the blocks before a MEDIUM ERROR's INFORMATION LBA as read, up to
		// the transfer the residual reports (all of it when U is clear).
		transfer = min(uint32(len(data)), tk.edtl)
	}
	if transfer > 0 || tk.read {
		if tk.read && transfer < uint32(len(data)) {
			transfer = uint32(len(data))
		}
		resFlags, resCount = residual(tk.edtl, transfer)
	}
	if !tk.read {
		data = nil
	}
	if uint32(len(data)) > tk.edtl {
		data = data[:tk.edtl]
	}
	total := uint32(len(data))
	collapse := status == uint32(scsi.StatusGood) && total > 0
	var dataSN uint32
	for off := uint32(0); off < total; {
		n, final := nextSegment(off, total, m.maxSend(), m.params.MaxBurstLength)
		last := off+n == total
		p := tk.pdu()
		p.Data = data[off : off+n]
		h := &p.BHS
		h.SetOpcode(iscsi.OpDataIn)
		var f uint8
		if final {
			f |= iscsi.FlagFinal
		}
		h.SetLUN(tk.lunRaw)
		h.SetITT(tk.t.Itt)
		h.SetTTT(iscsi.ReservedTag)
		if last && collapse {
			f |= iscsi.DataInFlagStatus | resFlags
			h.SetStatus(uint8(status))
			h.SetStatSN(m.nextStatSN())
			h.SetResidualCount(resCount)
		}
		h.SetFlags(f)
		m.window(h)
		h.SetDataSN(dataSN)
		dataSN++
		h.SetBufferOffset(off)
		m.emit(p)
		off += n
	}
	if !collapse {
		p := tk.pdu()
		h := &p.BHS
		h.SetOpcode(iscsi.OpSCSIResp)
		h.SetFlags(iscsi.FlagFinal | resFlags)
		h.SetResponse(0)
		h.SetStatus(uint8(status))
		h.SetITT(tk.t.Itt)
		h.SetStatSN(m.nextStatSN())
		m.window(h)
		if tk.read {
			h.SetExpDataSN(dataSN)
		} else {
			h.SetExpDataSN(tk.r2tSN)
		}
		h.SetResidualCount(resCount)
		if len(sense) > 0 {
			p.Data = make([]byte, 2+len(sense))
			binary.BigEndian.PutUint16(p.Data, uint16(len(sense)))
			copy(p.Data[2:], sense)
		}
		m.emit(p)
	}
	if release != nil {
		if m.Out.Close {
			m.pool.Put(release)
			return
		}
		m.Out.Release = append(m.Out.Release, release)
	}
}
