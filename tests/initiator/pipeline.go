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
	// FUA sets Force Unit Access on each WRITE(16), to time a write that must reach
	// stable media before its status.
	FUA bool
	// SyncCache follows each WRITE(16), once its status is GOOD, with a SYNCHRONIZE
	// CACHE(10) of the whole LUN on the same tag: the pair counts as one command (for
	// Run's n, Depth and Latency), as a write followed by fsync does for an application.
	SyncCache bool
	// Latency, when set, receives each command's time from just before it was
	// encoded and sent to the arrival of its status (for a SyncCache pair, the
	// SYNCHRONIZE CACHE's), so that a QD1 benchmark times every round trip alone.
	// It is called from Run's goroutine and must not block.
	Latency func(time.Duration)
}

// cdbFUA is the FUA bit of a WRITE(16) CDB's byte 1 (SBC-3 5.40).
const cdbFUA = 0x08

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
	// sentAt[itt] is when the command on itt was sent (with Latency only).
	sentAt []time.Time
	// syncing[itt] is set while itt's SYNCHRONIZE CACHE is pending or in flight
	// (with SyncCache only); pendSync are the tags whose SYNCHRONIZE CACHE awaits
	// the CmdSN window.
	syncing  []bool
	pendSync []uint32
	// dataIn[itt] counts the Data-In bytes of the READ on itt so far; moved sums the
	// data of the commands that ended GOOD (Bytes).
	dataIn []uint32
	moved  int64
}

// NewPipeline checks cfg against the connection's negotiated parameters.
func (r *Raw) NewPipeline(cfg PipelineConfig) (*Pipeline, error) {
	if cfg.BlockSize == 0 || cfg.Size <= 0 || cfg.Size%int(cfg.BlockSize) != 0 {
		return nil, fmt.Errorf("initiator: IO size %d is not a multiple of the %d-byte block", cfg.Size, cfg.BlockSize)
	}
	if r.Params.HeaderDigest || r.Params.DataDigest {
		return nil, fmt.Errorf("initiator: pipelines do not compute digests")
	}
	if (cfg.FUA || cfg.SyncCache) && !cfg.Write {
		return nil, fmt.Errorf("initiator: FUA and SyncCache apply to writes only")
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
		dataIn:  make([]uint32, cfg.Depth),
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
	if cfg.Latency != nil {
		p.sentAt = make([]time.Time, cfg.Depth)
	}
	if cfg.SyncCache {
		p.syncing = make([]bool, cfg.Depth)
		p.pendSync = make([]uint32, 0, cfg.Depth)
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

// Run completes n commands (a SyncCache pair counting as one). With check, a
// status other than GOOD is an error; without, statuses are ignored (a warm-up that
// may meet a unit attention).
func (p *Pipeline) Run(n int, check bool) error {
	r := p.raw
	sent, done, inflight := 0, 0, 0
	for done < n {
		p.out = p.out[:0]
		// A finished write's SYNCHRONIZE CACHE goes first: its slot is taken already.
		for len(p.pendSync) > 0 && !cmdsn.Less(r.MaxCmdSN, r.CmdSN) {
			p.appendSync(p.pendSync[0])
			p.pendSync = append(p.pendSync[:0], p.pendSync[1:]...)
		}
		for inflight < p.cfg.Depth && sent < n && !cmdsn.Less(r.MaxCmdSN, r.CmdSN) {
			itt := p.free[len(p.free)-1]
			p.free = p.free[:len(p.free)-1]
			if p.sentAt != nil {
				p.sentAt[itt] = time.Now()
			}
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
			if !finished {
				continue
			}
			itt := p.pdu.BHS.ITT()
			if itt >= uint32(p.cfg.Depth) {
				return fmt.Errorf("initiator: status for unknown ITT %#x", itt)
			}
			if check && status != scsi.StatusGood {
				return fmt.Errorf("initiator: command status %#x", status)
			}
			p.count(itt, status)
			if p.syncing != nil && !p.syncing[itt] && status == scsi.StatusGood {
				p.syncing[itt] = true // the write is done; its SYNCHRONIZE CACHE next
				p.pendSync = append(p.pendSync, itt)
				continue
			}
			if p.syncing != nil {
				p.syncing[itt] = false
			}
			if p.sentAt != nil {
				p.cfg.Latency(time.Since(p.sentAt[itt]))
			}
			done++
			inflight--
			p.free = append(p.free, itt)
		}
		// Data-Out and NOP-Out answers go out before more commands.
		if err := p.flush(); err != nil {
			return err
		}
	}
	return nil
}

// Bytes is the data the target moved for the commands that ended GOOD so far: the
// Data-In bytes received for a READ, and for a WRITE its length less the underflow
// residual the target reported (data it did not take). A benchmark divides this, not
// commands times size, by time: a target that answers GOOD with less data moved
// less.
func (p *Pipeline) Bytes() int64 { return p.moved }

// count adds the data of the command on itt, which just ended with status, to moved
// (p.pdu holds the PDU that ended it). A SYNCHRONIZE CACHE of a SyncCache pair moves
// none.
func (p *Pipeline) count(itt uint32, status uint8) {
	in := p.dataIn[itt]
	p.dataIn[itt] = 0
	if status != scsi.StatusGood || (p.syncing != nil && p.syncing[itt]) {
		return
	}
	if !p.cfg.Write {
		p.moved += int64(in)
		return
	}
	n := int64(p.cfg.Size)
	if h := &p.pdu.BHS; h.ResidualUnderflow() {
		n -= min(n, int64(h.ResidualCount()))
	}
	p.moved += n
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
		if itt := h.ITT(); itt < uint32(len(p.dataIn)) {
			p.dataIn[itt] += h.DataSegmentLength()
		}
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

// appendCommand encodes one READ(16) or WRITE(16) (with FUA if asked), with
// immediate data if negotiated.
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
		if p.cfg.FUA {
			cdb[1] |= cdbFUA
		}
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

// appendSync encodes a SYNCHRONIZE CACHE(10) of the whole LUN (LBA 0, 0 blocks:
// to the end) with no data.
func (p *Pipeline) appendSync(itt uint32) {
	r := p.raw
	var h iscsi.BHS
	h.SetOpcode(iscsi.OpSCSICmd)
	h.CDB()[0] = scsi.OpSynchronizeCache10
	h.SetFinal(true)
	h.SetTaskAttr(iscsi.TaskAttrSimple)
	h.SetLUN(p.lunRaw)
	h.SetITT(itt)
	h.SetCmdSN(r.CmdSN)
	r.CmdSN++
	h.SetExpStatSN(r.ExpStatSN)
	p.out = append(p.out, h[:]...)
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
