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
