package inprocess

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/iscsi"
	"github.com/atgt/atgt/messages/scsi"
	"github.com/atgt/atgt/tests/initiator"
)

// The data path benchmarks drive an in-process target over loopback TCP with a
// pipelined client that allocates nothing per command, so that allocs/op is the
// target's own allocations per IO (plus the runtime's). They serve a file LUN through
// the page cache, as atgtd does. Run with
//
//	go test -run '^$' -bench DataPath -benchtime 20000x ./tests/inprocess
//
// The figures to watch are allocs/op and B/op; ns/op on a shared 2-core machine
// (client and target on the same cores) moves with the neighbours.

const benchLUNSize = 256 << 20

// BenchmarkDataPath measures READ(10)/WRITE(10) of several sizes at queue depth 32.
func BenchmarkDataPath(b *testing.B) {
	for _, c := range []struct {
		write bool
		size  int
	}{{false, 4096}, {true, 4096}, {false, 128 << 10}, {true, 128 << 10}} {
		name := fmt.Sprintf("read-%dK", c.size>>10)
		if c.write {
			name = fmt.Sprintf("write-%dK", c.size>>10)
		}
		b.Run(name, func(b *testing.B) { benchDataPath(b, c.write, c.size, 32) })
	}
}

func benchDataPath(b *testing.B, write bool, size, qd int) {
	path := filepath.Join(b.TempDir(), "lun.img")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	// Written once, so that reads and writes hit the page cache, not holes.
	chunk := make([]byte, 1<<20)
	for off := 0; off < benchLUNSize; off += len(chunk) {
		if _, err := f.Write(chunk); err != nil {
			b.Fatal(err)
		}
	}
	f.Close()
	cfg := baseConfig(b)
	cfg.Targets[0].Luns = []*pb.Lun{{Id: 0, Path: path, SizeBytes: benchLUNSize}}
	svc := start(b, cfg, nil)
	raw, err := initiator.DialRaw(svc.Addrs()[0], initiator.Options{
		InitiatorName: initiatorName, TargetName: targetName, Timeout: 10 * time.Second,
		FirstBurstLength: 256 << 10, MaxBurstLength: 256 << 10,
	})
	if err != nil {
		b.Fatalf("login: %v", err)
	}
	defer raw.Conn.Close()
	if write && (size > int(raw.Params.MaxXmitDataSegmentLength) || size > int(raw.Params.FirstBurstLength)) {
		b.Fatalf("%d-byte immediate data exceeds the negotiated limits %+v", size, raw.Params)
	}
	cl := newPipeClient(raw, write, size, qd)
	// Warm up: the first command of a new nexus may report a unit attention, and the
	// buffer pools fill.
	if err := cl.run(2000, false); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	if err := cl.run(b.N, true); err != nil {
		b.Fatal(err)
	}
}

// pipeClient keeps qd commands in flight on one connection, reading every response
// into one scratch buffer. One goroutine sends and receives, so it needs no locks and
// allocates nothing in steady state.
type pipeClient struct {
	raw     *initiator.Raw
	write   bool
	size    int
	qd      int
	lba     uint32
	blocks  uint32
	out     []byte // commands to send, encoded back to back
	data    []byte // the write payload
	scratch []byte // read data lands here
	pdu     iscsi.PDU
	lim     iscsi.Limits
	free    []uint32 // ITTs not in use
}

func newPipeClient(raw *initiator.Raw, write bool, size, qd int) *pipeClient {
	c := &pipeClient{raw: raw, write: write, size: size, qd: qd,
		blocks: uint32(benchLUNSize / blockSize), data: make([]byte, size),
		scratch: make([]byte, raw.Params.MaxRecvDataSegmentLength),
		lim:     iscsi.Limits{MaxRecvDataSegmentLength: raw.Params.MaxRecvDataSegmentLength}}
	for i := 0; i < qd; i++ {
		c.free = append(c.free, uint32(i))
	}
	for i := range c.data {
		c.data[i] = byte(i * 7)
	}
	raw.Reader.SetDataAllocator(func(_ *iscsi.BHS, n int) []byte { return c.scratch[:n] })
	return c
}

// run completes n commands; with check, any status but GOOD is an error.
func (c *pipeClient) run(n int, check bool) error {
	sent, done, inflight := 0, 0, 0
	for done < n {
		c.out = c.out[:0]
		for inflight < c.qd && sent < n && !serialAfter(c.raw.CmdSN, c.raw.MaxCmdSN) {
			itt := c.free[len(c.free)-1]
			c.free = c.free[:len(c.free)-1]
			c.appendCommand(itt)
			sent++
			inflight++
		}
		if len(c.out) > 0 {
			if _, err := c.raw.Conn.Write(c.out); err != nil {
				return err
			}
		}
		// Read at least one PDU, then everything already buffered.
		for first := true; first || c.raw.Reader.Buffered() >= iscsi.BHSLength; first = false {
			c.raw.Conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			if err := c.raw.Reader.Read(c.lim, &c.pdu); err != nil {
				return err
			}
			finished, status, err := c.take(&c.pdu.BHS)
			if err != nil {
				return err
			}
			if finished {
				if check && status != scsi.StatusGood {
					return fmt.Errorf("command status %#x", status)
				}
				done++
				inflight--
				c.free = append(c.free, c.pdu.BHS.ITT())
			}
		}
	}
	return nil
}

// take processes one response; finished reports a command's end and its status.
func (c *pipeClient) take(h *iscsi.BHS) (finished bool, status uint8, err error) {
	if h.Opcode() == iscsi.OpDataIn || h.Opcode() == iscsi.OpSCSIResp || h.Opcode() == iscsi.OpNopIn {
		if maxCmd := h.MaxCmdSN(); serialAfter(maxCmd, c.raw.MaxCmdSN) {
			c.raw.MaxCmdSN = maxCmd
		}
	}
	switch h.Opcode() {
	case iscsi.OpSCSIResp:
		c.raw.ExpStatSN = h.StatSN() + 1
		return true, h.Status(), nil
	case iscsi.OpDataIn:
		if h.Flags()&0x01 == 0 {
			return false, 0, nil
		}
		c.raw.ExpStatSN = h.StatSN() + 1
		return true, h.Status(), nil
	case iscsi.OpNopIn:
		return false, 0, nil // a ping; answering is not needed while commands flow
	}
	return false, 0, fmt.Errorf("unexpected %v", h.Opcode())
}

// appendCommand encodes one READ(10) or WRITE(10) (with its data as immediate data)
// onto c.out.
func (c *pipeClient) appendCommand(itt uint32) {
	var p iscsi.PDU
	h := &p.BHS
	h.SetOpcode(iscsi.OpSCSICmd)
	blocks := uint32(c.size / blockSize)
	cdb := h.CDB()
	if c.write {
		h.SetFlags(0x80 | 0x20 | 1) // final, write, SIMPLE
		cdb[0] = scsi.OpWrite10
		h.SetDataSegmentLength(uint32(c.size))
	} else {
		h.SetFlags(0x80 | 0x40 | 1) // final, read, SIMPLE
		cdb[0] = scsi.OpRead10
	}
	binary.BigEndian.PutUint32(cdb[2:], c.lba)
	binary.BigEndian.PutUint16(cdb[7:], uint16(blocks))
	c.lba += blocks
	if c.lba+blocks > c.blocks {
		c.lba = 0
	}
	h.SetLUN(initiator.EncodeLUN(0))
	h.SetITT(itt)
	h.SetExpectedDataTransferLength(uint32(c.size))
	h.SetCmdSN(c.raw.CmdSN)
	c.raw.CmdSN++
	h.SetExpStatSN(c.raw.ExpStatSN)
	c.out = append(c.out, h[:]...)
	if c.write {
		c.out = append(c.out, c.data...) // sizes are multiples of 4: no padding
	}
}

// serialAfter reports a > b in 32-bit serial number arithmetic (RFC 1982).
func serialAfter(a, b uint32) bool { return a != b && a-b < 1<<31 }
