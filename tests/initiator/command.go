package initiator

import (
	"encoding/binary"
	"errors"
	"sync"
	"time"

	"github.com/atgt/atgt/messages/iscsi"
	"github.com/atgt/atgt/messages/scsi"
)

// Result is how a SCSI command ended.
type Result struct {
	Status uint8
	// Sense is the sense data of a CHECK CONDITION (without the 2-byte length).
	Sense []byte
	// Data is the Data-In received, len = highest offset written.
	Data []byte
	// Residual flags and count from the final PDU (RFC 7143 11.4.5).
	ResidualOverflow, ResidualUnderflow bool
	Residual                            uint32
	// DataInPDUs counts the Data-In PDUs, R2Ts counts the R2Ts answered.
	DataInPDUs, R2Ts int
	// MaxR2TsPending is the most R2Ts seen outstanding at once: the one being
	// answered plus those already queued behind it, all sent by the target before it
	// had our data for the first. It must never exceed MaxOutstandingR2T.
	MaxR2TsPending int
}

// Task is a command in flight, started with Submit.
type Task struct {
	// Attr is the task attribute (an iscsi.TaskAttr... value); 0 (untagged) is sent
	// as SIMPLE.
	Attr    uint8
	done    chan struct{}
	res     *Result
	err     error
	ittSet  chan struct{} // closed once ittVal is assigned
	ittVal  uint32
	ittOnce sync.Once
	// sent is closed once the command PDU is written (or will never be).
	sent     chan struct{}
	sentOnce sync.Once
}

// Sent is closed once the command PDU has been written to the connection (or the
// task ended without it): a test that must put commands on the wire in a given order
// waits for it before submitting the next.
func (t *Task) Sent() <-chan struct{} { return t.sent }

func (t *Task) markSent() { t.sentOnce.Do(func() { close(t.sent) }) }

// ITT returns the task's initiator task tag once it has been assigned (0 if the task
// ended before it had one), for task management functions that refer to it.
func (t *Task) ITT() uint32 {
	select {
	case <-t.ittSet:
		return t.ittVal
	case <-t.done:
		select {
		case <-t.ittSet:
			return t.ittVal
		default:
			return 0
		}
	}
}

// Done is closed when the task has finished.
func (t *Task) Done() <-chan struct{} { return t.done }

// Wait blocks until the task has finished (bounded by the session's Timeout, which
// the task's own goroutine enforces).
func (t *Task) Wait() (*Result, error) {
	<-t.done
	return t.res, t.err
}

// Command runs one SCSI command and waits for it. dataOut makes it a write, readLen
// > 0 a read; both at once (bidirectional) is not supported.
func (s *Session) Command(lun uint64, cdb []byte, dataOut []byte, readLen uint32) (*Result, error) {
	return s.Submit(lun, cdb, dataOut, readLen).Wait()
}

// Submit starts a command and returns at once; several may be outstanding. The
// command's CmdSN waits for the target's window like any other.
func (s *Session) Submit(lun uint64, cdb []byte, dataOut []byte, readLen uint32) *Task {
	return s.SubmitAttr(0, lun, cdb, dataOut, readLen)
}

// SubmitAttr is Submit with a task attribute (see Task.Attr).
func (s *Session) SubmitAttr(attr uint8, lun uint64, cdb []byte, dataOut []byte, readLen uint32) *Task {
	t := &Task{Attr: attr, done: make(chan struct{}), ittSet: make(chan struct{}), sent: make(chan struct{})}
	go func() {
		defer close(t.done)
		defer t.markSent()
		t.res, t.err = s.run(lun, cdb, dataOut, readLen, t)
	}()
	return t
}

// run drives one command: command PDU with immediate data, unsolicited Data-Out,
// Data-Out for each R2T, Data-In collection, status.
func (s *Session) run(lun uint64, cdb []byte, dataOut []byte, readLen uint32, t *Task) (*Result, error) {
	if len(cdb) == 0 || len(cdb) > 16 {
		return nil, errors.New("initiator: CDB must be 1..16 bytes")
	}
	if len(dataOut) > 0 && readLen > 0 {
		return nil, errors.New("initiator: bidirectional commands are not supported")
	}
	if s.opts.Discovery {
		return nil, errors.New("initiator: no SCSI commands in a discovery session")
	}
	deadline := time.Now().Add(s.opts.Timeout)
	p := s.Params
	lunRaw := scsi.EncodeLUN(lun)
	itt, box := s.register()
	t.ittOnce.Do(func() { t.ittVal = itt; close(t.ittSet) })
	defer s.unregister(itt)

	edtl := uint32(len(dataOut))
	if readLen > 0 {
		edtl = readLen
	}
	// Unsolicited data: immediate data in the command, then Data-Out PDUs with the
	// reserved TTT, together at most FirstBurstLength (RFC 7143 13.13, 13.14).
	var imm, unsol uint32
	if len(dataOut) > 0 {
		first := min(edtl, p.FirstBurstLength)
		if p.ImmediateData {
			imm = min(first, p.MaxXmitDataSegmentLength)
		}
		if !p.InitialR2T {
			unsol = first - imm
		}
	}
	err := s.sendNumbered(false, deadline, func(cmdSN uint32) []*iscsi.PDU {
		cmd := &iscsi.PDU{Data: dataOut[:imm]}
		h := &cmd.BHS
		h.SetOpcode(iscsi.OpSCSICmd)
		attr := t.Attr
		if attr == iscsi.TaskAttrUntagged {
			attr = iscsi.TaskAttrSimple
		}
		h.SetTaskAttr(attr)
		h.SetFinal(unsol == 0) // no unsolicited Data-Out follows
		h.SetCmdRead(readLen > 0)
		h.SetCmdWrite(len(dataOut) > 0)
		h.SetLUN(lunRaw)
		h.SetITT(itt)
		h.SetExpectedDataTransferLength(edtl)
		h.SetCmdSN(cmdSN)
		copy(h.CDB(), cdb)
		out := []*iscsi.PDU{cmd}
		if unsol > 0 {
			out = append(out, s.dataOut(dataOut, lunRaw, itt, reservedTag, imm, unsol)...)
		}
		return out
	})
	t.markSent()
	if err != nil {
		return nil, err
	}

	res := &Result{}
	var data []byte
	if readLen > 0 {
		data = make([]byte, readLen) // readLen is ours, not the network's
	}
	var dataSN, nextOff, r2tSN uint32
	for {
		in, err := s.next(box, deadline)
		if err != nil {
			return nil, err
		}
		h := &in.BHS
		switch h.Opcode() {
		case iscsi.OpR2T:
			if len(dataOut) == 0 {
				return nil, protoErr("R2T for a command without write data")
			}
			off, n := h.BufferOffset(), h.DesiredDataTransferLength()
			if n == 0 || uint64(off)+uint64(n) > uint64(len(dataOut)) {
				return nil, protoErr("R2T offset %d length %d outside %d bytes", off, n, len(dataOut))
			}
			if n > p.MaxBurstLength {
				return nil, protoErr("R2T length %d exceeds MaxBurstLength %d", n, p.MaxBurstLength)
			}
			if h.R2TSN() != r2tSN {
				return nil, protoErr("R2TSN %d, want %d", h.R2TSN(), r2tSN)
			}
			r2tSN++
			res.R2Ts++
			res.MaxR2TsPending = max(res.MaxR2TsPending, 1+box.count(iscsi.OpR2T))
			if err := s.send(s.dataOut(dataOut, lunRaw, itt, h.TTT(), off, n)...); err != nil {
				return nil, err
			}
		case iscsi.OpDataIn:
			if readLen == 0 {
				return nil, protoErr("Data-In for a command without read data")
			}
			if h.DataSN() != dataSN {
				return nil, protoErr("Data-In DataSN %d, want %d", h.DataSN(), dataSN)
			}
			dataSN++
			off, n := h.BufferOffset(), uint32(len(in.Data))
			if off != nextOff {
				return nil, protoErr("Data-In offset %d, want %d (DataPDUInOrder)", off, nextOff)
			}
			if uint64(off)+uint64(n) > uint64(readLen) {
				return nil, protoErr("Data-In offset %d length %d beyond %d", off, n, readLen)
			}
			if n > p.MaxRecvDataSegmentLength {
				return nil, protoErr("Data-In of %d bytes exceeds our MaxRecvDataSegmentLength", n)
			}
			copy(data[off:], in.Data)
			nextOff = off + n
			res.DataInPDUs++
			if h.HasStatus() {
				if !h.Final() {
					return nil, protoErr("Data-In with S but not F")
				}
				res.Status = h.Status()
				setResidual(res, h)
				res.Data = data[:nextOff]
				return res, nil
			}
		case iscsi.OpSCSIResp:
			if r := h.Response(); r != iscsi.SCSIRespCompleted {
				return nil, protoErr("SCSI Response code %#02x (target failure)", r)
			}
			res.Status = h.Status()
			setResidual(res, h)
			if len(in.Data) >= 2 {
				sl := int(binary.BigEndian.Uint16(in.Data))
				if sl > len(in.Data)-2 {
					return nil, protoErr("sense length %d beyond %d bytes of data", sl, len(in.Data)-2)
				}
				res.Sense = in.Data[2 : 2+sl]
			}
			if readLen > 0 {
				if h.ExpDataSN() != dataSN {
					return nil, protoErr("SCSI Response ExpDataSN %d, Data-In count %d", h.ExpDataSN(), dataSN)
				}
				res.Data = data[:nextOff]
			}
			return res, nil
		case iscsi.OpReject:
			var bad iscsi.BHS
			copy(bad[:], in.Data)
			return nil, &RejectError{Reason: h.Response(), Header: bad}
		default:
			return nil, protoErr("unexpected %v for a SCSI command", h.Opcode())
		}
	}
}

// setResidual copies the O/U flags and residual count of a final PDU.
func setResidual(r *Result, h *iscsi.BHS) {
	r.ResidualOverflow = h.ResidualOverflow()
	r.ResidualUnderflow = h.ResidualUnderflow()
	if r.ResidualOverflow || r.ResidualUnderflow {
		r.Residual = h.ResidualCount()
	}
}

// dataOut builds the Data-Out PDUs for buf[off:off+n] in MaxXmitDataSegmentLength
// pieces: DataSN from 0 for this sequence, F on the last (RFC 7143 11.7).
func (s *Session) dataOut(buf []byte, lunRaw uint64, itt, ttt, off, n uint32) []*iscsi.PDU {
	seg := s.Params.MaxXmitDataSegmentLength
	var out []*iscsi.PDU
	for sn, end := uint32(0), off+n; off < end; sn++ {
		k := min(seg, end-off)
		p := &iscsi.PDU{Data: buf[off : off+k]}
		h := &p.BHS
		h.SetOpcode(iscsi.OpDataOut)
		h.SetFinal(off+k == end)
		h.SetLUN(lunRaw)
		h.SetITT(itt)
		h.SetTTT(ttt)
		h.SetDataSN(sn)
		h.SetBufferOffset(off)
		out = append(out, p)
		off += k
	}
	return out
}
