package initiator

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/atgt/atgt/actors/cmdsn"
	"github.com/atgt/atgt/messages/iscsi"
	"github.com/atgt/atgt/messages/scsi"
)

// PipelineConfig describes a stream of READ(16) or WRITE(16) commands.
type PipelineConfig struct {
	LUN       uint64
	BlockSize uint32
	Blocks    uint64 // the LUN's capacity in blocks
	Size      int    // bytes per command, a multiple of BlockSize
	Write     bool
	Random    bool   // random size-aligned positions; else sequential, wrapping
	Depth     int    // commands in flight
	Seed      uint64 // for Random
	// Timeout bounds the wait for any one response.
	Timeout time.Duration
}

// Pipeline keeps Depth commands in flight on a Raw connection from one goroutine:
// it sends every command the window allows in one write, then reads every response
// that arrived, answering R2Ts with Data-Out and target pings with NOP-Out. Read data
// lands in one scratch buffer and write data comes from one buffer, so a pipeline
// allocates nothing per command and measures the target, not the client.
type Pipeline struct {
	raw     *Raw
	cfg     PipelineConfig
	lunRaw  uint64
	slots   uint64
	next    uint64 // next sequential slot
	rng     *rand.Rand
	data    []byte // write payload
	scratch []byte // read data lands here
	out     []byte // PDUs to send, encoded back to back
	pdu     iscsi.PDU
	lim     iscsi.Limits
	free    []uint32 // ITTs not in use
	imm     uint32   // immediate data per write
}

// NewPipeline checks cfg against the connection's negotiated parameters.
func (r *Raw) NewPipeline(cfg PipelineConfig) (*Pipeline, error) {
	if cfg.BlockSize == 0 || cfg.Size <= 0 || cfg.Size%int(cfg.BlockSize) != 0 {
		return nil, fmt.Errorf("initiator: IO size %d is not a multiple of the %d-byte block", cfg.Size, cfg.BlockSize)
	}
	if r.Params.HeaderDigest || r.Params.DataDigest {
		return nil, fmt.Errorf("initiator: pipelines do not compute digests")
	}
	if cfg.Depth <= 0 {
		cfg.Depth = 1
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	p := &Pipeline{raw: r, cfg: cfg, lunRaw: scsi.EncodeLUN(cfg.LUN),
		slots:   cfg.Blocks / uint64(cfg.Size/int(cfg.BlockSize)),
		rng:     rand.New(rand.NewPCG(cfg.Seed, 0x5eed)),
		data:    make([]byte, cfg.Size),
		scratch: make([]byte, r.Params.MaxRecvDataSegmentLength),
		lim:     iscsi.Limits{MaxRecvDataSegmentLength: r.Params.MaxRecvDataSegmentLength}}
	if p.slots == 0 {
		return nil, fmt.Errorf("initiator: a LUN of %d blocks is smaller than one IO", cfg.Blocks)
	}
	for i := range p.data {
		p.data[i] = byte(i*7 + 1)
	}
	for i := cfg.Depth - 1; i >= 0; i-- {
		p.free = append(p.free, uint32(i))
	}
	if r.Params.ImmediateData {
		p.imm = min(uint32(cfg.Size), r.Params.FirstBurstLength, r.Params.MaxXmitDataSegmentLength)
	}
	r.Reader.SetDataAllocator(func(_ *iscsi.BHS, n int) []byte {
		if n <= len(p.scratch) {
			return p.scratch[:n]
		}
		return nil // the reader allocates; the limits make it rare
	})
	return p, nil
}

// Run completes n commands. With check, a status other than GOOD is an error;
// without, statuses are ignored (a warm-up that may meet a unit attention).
func (p *Pipeline) Run(n int, check bool) error {
	r := p.raw
	sent, done, inflight := 0, 0, 0
	for done < n {
		p.out = p.out[:0]
		for inflight < p.cfg.Depth && sent < n && !cmdsn.Less(r.MaxCmdSN, r.CmdSN) {
			itt := p.free[len(p.free)-1]
			p.free = p.free[:len(p.free)-1]
			p.appendCommand(itt)
			sent++
			inflight++
		}
		if err := p.flush(); err != nil {
			return err
		}
		// Read at least one PDU, then everything already buffered.
		for first := true; first || r.Reader.Buffered() >= iscsi.BHSLength; first = false {
			r.Conn.SetReadDeadline(time.Now().Add(p.cfg.Timeout))
			if err := r.Reader.Read(p.lim, &p.pdu); err != nil {
				return err
			}
			finished, status, err := p.take(&p.pdu.BHS)
			if err != nil {
				return err
			}
			if finished {
				if check && status != 0 {
					return fmt.Errorf("initiator: command status %#x", status)
				}
				done++
				inflight--
				p.free = append(p.free, p.pdu.BHS.ITT())
			}
		}
		// Data-Out and NOP-Out answers go out before more commands.
		if err := p.flush(); err != nil {
			return err
		}
	}
	return nil
}

func (p *Pipeline) flush() error {
	if len(p.out) == 0 {
		return nil
	}
	p.raw.Conn.SetWriteDeadline(time.Now().Add(p.cfg.Timeout))
	_, err := p.raw.Conn.Write(p.out)
	p.out = p.out[:0]
	return err
}

// take processes one PDU from the target; finished reports a command's end.
func (p *Pipeline) take(h *iscsi.BHS) (finished bool, status uint8, err error) {
	r := p.raw
	switch h.Opcode() {
	case iscsi.OpSCSIResp, iscsi.OpDataIn, iscsi.OpR2T, iscsi.OpNopIn:
		if max := h.MaxCmdSN(); cmdsn.Less(r.MaxCmdSN, max) {
			r.MaxCmdSN = max
		}
	}
	switch h.Opcode() {
	case iscsi.OpSCSIResp:
		r.ExpStatSN = h.StatSN() + 1
		return true, h.Status(), nil
	case iscsi.OpDataIn:
		if !h.HasStatus() {
			return false, 0, nil
		}
		r.ExpStatSN = h.StatSN() + 1
		return true, h.Status(), nil
	case iscsi.OpR2T:
		p.appendDataOut(h.ITT(), h.TTT(), h.BufferOffset(), h.DesiredDataTransferLength())
		return false, 0, nil
	case iscsi.OpNopIn:
		if h.TTT() != reservedTag {
			p.appendNopOut(h)
		}
		return false, 0, nil
	}
	return false, 0, fmt.Errorf("initiator: unexpected %v in a pipeline", h.Opcode())
}

// appendCommand encodes one READ(16) or WRITE(16), with immediate data if negotiated.
func (p *Pipeline) appendCommand(itt uint32) {
	r := p.raw
	var pdu iscsi.PDU
	h := &pdu.BHS
	h.SetOpcode(iscsi.OpSCSICmd)
	perIO := uint64(p.cfg.Size / int(p.cfg.BlockSize))
	var slot uint64
	if p.cfg.Random {
		slot = p.rng.Uint64N(p.slots)
	} else {
		slot = p.next % p.slots
		p.next++
	}
	cdb := h.CDB()
	var imm uint32
	if p.cfg.Write {
		imm = p.imm
		h.SetCmdWrite(true)
		cdb[0] = scsi.OpWrite16
		h.SetDataSegmentLength(imm)
	} else {
		h.SetCmdRead(true)
		cdb[0] = scsi.OpRead16
	}
	h.SetFinal(true) // no unsolicited Data-Out: the rest waits for R2Ts
	h.SetTaskAttr(iscsi.TaskAttrSimple)
	binary.BigEndian.PutUint64(cdb[2:], slot*perIO)
	binary.BigEndian.PutUint32(cdb[10:], uint32(perIO))
	h.SetLUN(p.lunRaw)
	h.SetITT(itt)
	h.SetExpectedDataTransferLength(uint32(p.cfg.Size))
	h.SetCmdSN(r.CmdSN)
	r.CmdSN++
	h.SetExpStatSN(r.ExpStatSN)
	p.out = append(p.out, h[:]...)
	p.appendData(p.data[:imm])
}

// appendDataOut answers an R2T with Data-Out PDUs of at most the target's
// MaxRecvDataSegmentLength.
func (p *Pipeline) appendDataOut(itt, ttt, off, length uint32) {
	if uint64(off)+uint64(length) > uint64(len(p.data)) {
		length = uint32(max(0, len(p.data)-int(off)))
	}
	seg := p.raw.Params.MaxXmitDataSegmentLength
	for sn, end := uint32(0), off+length; off < end; sn++ {
		n := min(seg, end-off)
		var pdu iscsi.PDU
		h := &pdu.BHS
		h.SetOpcode(iscsi.OpDataOut)
		h.SetFinal(off+n == end)
		h.SetLUN(p.lunRaw)
		h.SetITT(itt)
		h.SetTTT(ttt)
		h.SetExpStatSN(p.raw.ExpStatSN)
		h.SetDataSN(sn)
		h.SetBufferOffset(off)
		h.SetDataSegmentLength(n)
		p.out = append(p.out, h[:]...)
		p.appendData(p.data[off : off+n])
		off += n
	}
}

// appendNopOut answers a target ping (RFC 7143 11.18).
func (p *Pipeline) appendNopOut(in *iscsi.BHS) {
	h := pingAnswer(in, p.raw.CmdSN, p.raw.ExpStatSN)
	p.out = append(p.out, h[:]...)
}

// appendData appends a data segment with its padding.
func (p *Pipeline) appendData(d []byte) {
	p.out = append(p.out, d...)
	var zeros [3]byte
	p.out = append(p.out, zeros[:(4-len(d)%4)%4]...)
}
