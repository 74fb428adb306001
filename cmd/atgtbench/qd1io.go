package main

// The Go initiator's side of `atgtbench qd1`: one command at a time on a raw
// logged-in connection, each round trip timed on its own.

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/atgt/atgt/actors/cmdsn"
	"github.com/atgt/atgt/messages/iscsi"
	"github.com/atgt/atgt/messages/scsi"
	"github.com/atgt/atgt/tests/initiator"
)

// qd1Op is what one timed IO of a QD1 case does.
type qd1Op int

const (
	opRead      qd1Op = iota // READ(16) of 4 KiB
	opWrite                  // WRITE(16) of 4 KiB
	opWriteFUA               // WRITE(16) of 4 KiB with FUA
	opWriteSync              // WRITE(16) of 4 KiB, then SYNCHRONIZE CACHE(10): timed together
)

// cdbFUA is the FUA bit of a WRITE(16) CDB's byte 1 (SBC-3 5.40).
const cdbFUA = 0x08

// qd1IOSize is the IO size of every QD1 case.
const qd1IOSize = 4096

// qd1Case is one row of the Go-initiator table.
type qd1Case struct {
	Name string
	Op   qd1Op
	// Opcodes are the SCSI operation codes its IOs send, for the trace filter.
	Opcodes []uint8
}

// qd1Cases are the Go-initiator cases, in table order. Offsets are random and
// 4 KiB-aligned from a fixed seed, for writes as for reads.
var qd1Cases = []qd1Case{
	{Name: "4K rand read", Op: opRead, Opcodes: []uint8{scsi.OpRead16}},
	{Name: "4K rand write", Op: opWrite, Opcodes: []uint8{scsi.OpWrite16}},
	{Name: "4K rand write FUA", Op: opWriteFUA, Opcodes: []uint8{scsi.OpWrite16}},
	{Name: "4K rand write + SYNC CACHE", Op: opWriteSync, Opcodes: []uint8{scsi.OpWrite16, scsi.OpSynchronizeCache10}},
}

// Write reports whether the case dirties the backing file.
func (c qd1Case) Write() bool { return c.Op != opRead }

// qd1Conn is one logged-in connection that sends one command at a time and waits
// for its end, allocating nothing per command.
type qd1Conn struct {
	raw     *initiator.Raw
	lunRaw  uint64
	bs      uint32
	slots   uint64 // 4 KiB slots in the LUN
	rng     *rand.Rand
	data    []byte // write payload
	scratch []byte // read data lands here
	out     []byte // PDUs to send
	pdu     iscsi.PDU
	lim     iscsi.Limits
	imm     uint32 // immediate data per write
	itt     uint32
	timeout time.Duration
}

// dialQD1 reads the LUN's capacity on one session, then logs in a raw connection
// as initiator name and warms it with one command (a fresh nexus may report a unit
// attention first).
func dialQD1(url, name string, seed uint64) (*qd1Conn, error) {
	u, err := parseISCSIURL(url)
	if err != nil {
		return nil, err
	}
	opts := initiator.Options{InitiatorName: name, TargetName: u.Target, Timeout: 60 * time.Second,
		// tgt refuses an all-zero ISID: a random-type ISID, as real initiators use.
		ISID: [6]byte{0x80, 0xa7, 0x6b, 0x00, 0x00, 0x02}}
	s, err := initiator.Dial(u.Addr, opts)
	if err != nil {
		return nil, fmt.Errorf("login to %s: %w", url, err)
	}
	blocks, bs, err := s.ReadCapacity16(u.LUN)
	if err != nil {
		blocks, bs, err = s.ReadCapacity16(u.LUN)
	}
	s.Logout() //nolint:errcheck // the raw connection logs in anew
	s.Close()
	if err != nil {
		return nil, fmt.Errorf("READ CAPACITY(16): %w", err)
	}
	if bs == 0 || qd1IOSize%bs != 0 {
		return nil, fmt.Errorf("block size %d does not divide %d", bs, qd1IOSize)
	}
	raw, err := initiator.DialRaw(u.Addr, opts)
	if err != nil {
		return nil, fmt.Errorf("login to %s: %w", url, err)
	}
	if raw.Params.HeaderDigest || raw.Params.DataDigest {
		raw.Conn.Close()
		return nil, fmt.Errorf("digests negotiated: the QD1 loop does not compute them")
	}
	c := &qd1Conn{raw: raw, lunRaw: scsi.EncodeLUN(u.LUN), bs: bs, slots: blocks * uint64(bs) / qd1IOSize,
		rng: rand.New(rand.NewPCG(seed, 0x9d1)), data: make([]byte, qd1IOSize),
		scratch: make([]byte, raw.Params.MaxRecvDataSegmentLength), timeout: 60 * time.Second,
		lim: iscsi.Limits{MaxRecvDataSegmentLength: raw.Params.MaxRecvDataSegmentLength}}
	if c.slots == 0 {
		raw.Conn.Close()
		return nil, fmt.Errorf("LUN of %d blocks is smaller than one IO", blocks)
	}
	for i := range c.data {
		c.data[i] = byte(i*13 + 5)
	}
	if raw.Params.ImmediateData {
		c.imm = min(uint32(qd1IOSize), raw.Params.FirstBurstLength, raw.Params.MaxXmitDataSegmentLength)
	}
	raw.Reader.SetDataAllocator(func(_ *iscsi.BHS, n int) []byte {
		if n <= len(c.scratch) {
			return c.scratch[:n]
		}
		return nil
	})
	if _, err := c.command(scsi.OpRead16, 0, false); err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

func (c *qd1Conn) close() { c.raw.Conn.Close() }

// run does one IO of op at a random slot and returns its round trip.
func (c *qd1Conn) run(op qd1Op) (time.Duration, error) {
	lba := c.rng.Uint64N(c.slots) * (qd1IOSize / uint64(c.bs))
	start := time.Now()
	var st uint8
	var err error
	switch op {
	case opRead:
		st, err = c.command(scsi.OpRead16, lba, false)
	case opWrite:
		st, err = c.command(scsi.OpWrite16, lba, false)
	case opWriteFUA:
		st, err = c.command(scsi.OpWrite16, lba, true)
	case opWriteSync:
		if st, err = c.command(scsi.OpWrite16, lba, false); err == nil && st == scsi.StatusGood {
			st, err = c.command(scsi.OpSynchronizeCache10, 0, false)
		}
	}
	d := time.Since(start)
	if err == nil && st != scsi.StatusGood {
		err = fmt.Errorf("status %#x", st)
	}
	return d, err
}

// command sends one READ(16), WRITE(16) or SYNCHRONIZE CACHE(10) and waits for its
// status, answering R2Ts and target pings on the way.
func (c *qd1Conn) command(opcode uint8, lba uint64, fua bool) (uint8, error) {
	r := c.raw
	if cmdsn.Less(r.MaxCmdSN, r.CmdSN) {
		return 0, fmt.Errorf("CmdSN window closed (CmdSN %d, MaxCmdSN %d)", r.CmdSN, r.MaxCmdSN)
	}
	c.itt++
	if c.itt == reservedITT {
		c.itt = 0
	}
	var pdu iscsi.PDU
	h := &pdu.BHS
	h.SetOpcode(iscsi.OpSCSICmd)
	cdb := h.CDB()
	cdb[0] = opcode
	var imm uint32
	edtl := uint32(qd1IOSize)
	switch opcode {
	case scsi.OpRead16:
		h.SetCmdRead(true)
	case scsi.OpWrite16:
		h.SetCmdWrite(true)
		imm = c.imm
		h.SetDataSegmentLength(imm)
		if fua {
			cdb[1] |= cdbFUA
		}
	default: // SYNCHRONIZE CACHE(10): LBA 0, 0 blocks = to the end of the LUN
		edtl = 0
	}
	if opcode != scsi.OpSynchronizeCache10 {
		binary.BigEndian.PutUint64(cdb[2:], lba)
		binary.BigEndian.PutUint32(cdb[10:], qd1IOSize/c.bs)
	}
	h.SetFinal(true)
	h.SetTaskAttr(iscsi.TaskAttrSimple)
	h.SetLUN(c.lunRaw)
	h.SetITT(c.itt)
	h.SetExpectedDataTransferLength(edtl)
	h.SetCmdSN(r.CmdSN)
	r.CmdSN++
	h.SetExpStatSN(r.ExpStatSN)
	c.out = append(c.out[:0], h[:]...)
	c.appendData(c.data[:imm])
	if err := c.flush(); err != nil {
		return 0, err
	}
	for {
		r.Conn.SetReadDeadline(time.Now().Add(c.timeout))
		if err := r.Reader.Read(c.lim, &c.pdu); err != nil {
			return 0, err
		}
		in := &c.pdu.BHS
		switch in.Opcode() {
		case iscsi.OpSCSIResp, iscsi.OpDataIn, iscsi.OpR2T, iscsi.OpNopIn:
			if m := in.MaxCmdSN(); cmdsn.Less(r.MaxCmdSN, m) {
				r.MaxCmdSN = m
			}
		}
		switch in.Opcode() {
		case iscsi.OpSCSIResp:
			r.ExpStatSN = in.StatSN() + 1
			return in.Status(), nil
		case iscsi.OpDataIn:
			if in.HasStatus() {
				r.ExpStatSN = in.StatSN() + 1
				return in.Status(), nil
			}
		case iscsi.OpR2T:
			c.out = c.out[:0]
			c.appendDataOut(in.ITT(), in.TTT(), in.BufferOffset(), in.DesiredDataTransferLength())
			if err := c.flush(); err != nil {
				return 0, err
			}
		case iscsi.OpNopIn:
			if in.TTT() != reservedITT {
				c.out = c.out[:0]
				c.appendNopOut(in)
				if err := c.flush(); err != nil {
					return 0, err
				}
			}
		default:
			return 0, fmt.Errorf("unexpected %v", in.Opcode())
		}
	}
}

// reservedITT is the tag value that means "none" (RFC 7143 11.18).
const reservedITT = 0xffffffff

func (c *qd1Conn) flush() error {
	c.raw.Conn.SetWriteDeadline(time.Now().Add(c.timeout))
	_, err := c.raw.Conn.Write(c.out)
	return err
}

// appendData appends a data segment with its padding.
func (c *qd1Conn) appendData(d []byte) {
	c.out = append(c.out, d...)
	var zeros [3]byte
	c.out = append(c.out, zeros[:(4-len(d)%4)%4]...)
}

// appendDataOut answers an R2T with Data-Out PDUs of at most the target's
// MaxRecvDataSegmentLength.
func (c *qd1Conn) appendDataOut(itt, ttt, off, length uint32) {
	if uint64(off)+uint64(length) > uint64(len(c.data)) {
		length = uint32(max(0, len(c.data)-int(off)))
	}
	seg := c.raw.Params.MaxXmitDataSegmentLength
	for sn, end := uint32(0), off+length; off < end; sn++ {
		n := min(seg, end-off)
		var pdu iscsi.PDU
		h := &pdu.BHS
		h.SetOpcode(iscsi.OpDataOut)
		h.SetFinal(off+n == end)
		h.SetLUN(c.lunRaw)
		h.SetITT(itt)
		h.SetTTT(ttt)
		h.SetExpStatSN(c.raw.ExpStatSN)
		h.SetDataSN(sn)
		h.SetBufferOffset(off)
		h.SetDataSegmentLength(n)
		c.out = append(c.out, h[:]...)
		c.appendData(c.data[off : off+n])
		off += n
	}
}

// appendNopOut answers a target ping: ITT reserved, I bit, the ping's TTT and LUN,
// CmdSN not advanced (RFC 7143 11.18).
func (c *qd1Conn) appendNopOut(in *iscsi.BHS) {
	var h iscsi.BHS
	h.SetOpcode(iscsi.OpNopOut)
	h.SetImmediate(true)
	h.SetFinal(true)
	h.SetLUN(in.LUN())
	h.SetITT(reservedITT)
	h.SetTTT(in.TTT())
	h.SetCmdSN(c.raw.CmdSN)
	h.SetExpStatSN(c.raw.ExpStatSN)
	c.out = append(c.out, h[:]...)
}

// runQD1Case logs in to url as name and times ios IOs of op, one at a time.
func runQD1Case(url, name string, op qd1Op, ios int, seed uint64) ([]time.Duration, error) {
	c, err := dialQD1(url, name, seed)
	if err != nil {
		return nil, err
	}
	defer c.close()
	lat := make([]time.Duration, 0, ios)
	for range ios {
		d, err := c.run(op)
		if err != nil {
			return nil, err
		}
		lat = append(lat, d)
	}
	return lat, nil
}
