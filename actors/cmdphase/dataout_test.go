package cmdphase

import (
	"testing"

	"github.com/atgt/atgt/messages/iscsi"
	"github.com/atgt/atgt/messages/scsi"
)

// writeCmd sends a WRITE(16) of edtl bytes with imm bytes of immediate data.
func writeCmd(h *harness, itt, cmdSN, edtl, imm uint32, final bool, op string) {
	p := &iscsi.PDU{}
	b := &p.BHS
	f := uint8(iscsi.CmdFlagWrite | 1)
	if final {
		f |= iscsi.FlagFinal
	}
	b.SetOpcode(iscsi.OpSCSICmd)
	b.SetFlags(f)
	b.SetITT(itt)
	b.SetCmdSN(cmdSN)
	b.SetExpectedDataTransferLength(edtl)
	b.SetLUN(scsi.EncodeLUN(0))
	copy(b.CDB(), cdb(op, edtl))
	if imm > 0 {
		p.Data = make([]byte, imm)
	}
	h.m.PDU(p, false)
	h.drain()
}

// TestEmptyDataOutLeavesDispatchedTask: an empty unsolicited Data-Out for a task
// its LUN already holds does not write to the ScsiTask the LUN reads (a data race
// with the IO worker).
func TestEmptyDataOutLeavesDispatchedTask(t *testing.T) {
	h := newHarness(defaultConfig(), 1)
	writeCmd(h, 1, 1, 4096, 4096, false, "write16")
	task := h.atLUN[1]
	if task == nil {
		t.Fatalf("task not at its LUN:\n%s", h.out.String())
	}
	task.DataOut = nil // the LUN's to change now
	p := &iscsi.PDU{}
	p.BHS.SetOpcode(iscsi.OpDataOut)
	p.BHS.SetFinal(true)
	p.BHS.SetITT(1)
	p.BHS.SetTTT(iscsi.ReservedTag)
	p.BHS.SetBufferOffset(4096)
	h.m.PDU(p, false)
	h.drain()
	if task.DataOut != nil {
		t.Fatal("the Data-Out wrote to the task at its LUN")
	}
}

// heldBytes is the write data memory the connection's tasks hold.
func heldBytes(m *Machine) (n int) {
	for _, tk := range m.tasks {
		n += cap(tk.buf)
		for _, p := range tk.parts {
			n += cap(p)
		}
	}
	return n
}

// TestWriteMemoryFollowsData: a write that is not a plain WRITE (MODE SELECT
// here) holds memory for the data received, not for its EDTL: 16 header-only
// MODE SELECT(10)s of 16 MiB each must not pin 256 MiB.
func TestWriteMemoryFollowsData(t *testing.T) {
	cfg := defaultConfig()
	cfg.QueueDepth = 32
	cfg.MaxBufferedBytes = 1 << 30
	h := newHarness(cfg, 1)
	var ttt uint32
	h.onPDU = func(p *iscsi.PDU) {
		if p.BHS.Opcode() == iscsi.OpR2T && p.BHS.ITT() == 1 {
			ttt = p.BHS.TTT()
		}
	}
	const edtl = 16 << 20
	for i := uint32(1); i <= 16; i++ {
		writeCmd(h, i, i, edtl, 0, true, "modeselect10")
	}
	if n := heldBytes(h.m); n != 0 {
		t.Fatalf("16 MODE SELECTs with no data hold %d bytes", n)
	}
	// Data for the first: the memory follows it, and the command gets it whole.
	const seg = 256 << 10
	for off := uint32(0); off < edtl; off += seg {
		if n := heldBytes(h.m); n > 2*int(off)+seg {
			t.Fatalf("after %d bytes of data the tasks hold %d", off, n)
		}
		p := &iscsi.PDU{Data: make([]byte, seg)}
		p.Data[0] = byte(off / seg)
		b := &p.BHS
		b.SetOpcode(iscsi.OpDataOut)
		b.SetFinal((off+seg)%cfg.Login.Params.MaxBurstLength == 0)
		b.SetITT(1)
		b.SetTTT(ttt)
		b.SetDataSN(off % cfg.Login.Params.MaxBurstLength / seg)
		b.SetBufferOffset(off)
		h.m.PDU(p, false)
		h.drain()
	}
	task := h.atLUN[1]
	if task == nil || len(task.DataOut) != edtl || task.DataOut[edtl-seg] != byte(edtl/seg-1) {
		t.Fatalf("MODE SELECT not at its LUN with its data:\n%s", h.out.String())
	}
}
