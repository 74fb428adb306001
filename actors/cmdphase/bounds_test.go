package cmdphase

import (
	"strings"
	"testing"

	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/iscsi"
	"github.com/atgt/atgt/messages/scsi"
)

// dataOut sends one solicited Data-Out of n bytes at off for itt's R2T ttt.
func dataOut(h *harness, itt, ttt, off, n uint32, final bool) {
	p := &iscsi.PDU{Data: make([]byte, n)}
	b := &p.BHS
	b.SetOpcode(iscsi.OpDataOut)
	b.SetFinal(final)
	b.SetITT(itt)
	b.SetTTT(ttt)
	b.SetBufferOffset(off)
	h.m.PDU(p, false)
	h.drain()
}

// TestDataOutTimeoutDropsConnection: a task whose R2T the initiator answers only
// in part holds its write data until three checks in a row (every half
// DataOutTimeout) saw no Data-Out since the one before; then the connection is dropped, and its nexus
// reported lost. Data-Out in between starts the count again.
func TestDataOutTimeoutDropsConnection(t *testing.T) {
	h := newHarness(defaultConfig(), 1)
	var ttt uint32
	h.onPDU = func(p *iscsi.PDU) {
		if p.BHS.Opcode() == iscsi.OpR2T {
			ttt = p.BHS.TTT()
		}
	}
	writeCmd(h, 1, 1, 65536, 0, true, "write16")
	if ttt == 0 || !h.m.Out.OwesData {
		t.Fatalf("no R2T, or the connection was not told to check for Data-Out:\n%s", h.out.String())
	}
	over := func() bool { return strings.Contains(h.out.String(), "over: data-out timeout") }
	h.m.CheckDataOut()
	h.m.CheckDataOut()
	h.drain()
	dataOut(h, 1, ttt, 0, 4096, false) // progress: the next check starts the count again
	for i := 0; i < 3; i++ {
		h.m.CheckDataOut()
		h.drain()
		if over() {
			t.Fatalf("dropped after %d checks without Data-Out following progress:\n%s", i+1, h.out.String())
		}
	}
	h.m.CheckDataOut()
	h.drain()
	if !over() || !strings.Contains(h.out.String(), "nexus-loss") {
		t.Fatalf("a task with no Data-Out for four checks did not end the connection:\n%s", h.out.String())
	}
}

// TestDataOutTimeoutSparesOthers: tasks that owe no Data-Out (complete, or at
// their LUN) never time out.
func TestDataOutTimeoutSparesOthers(t *testing.T) {
	h := newHarness(defaultConfig(), 1)
	writeCmd(h, 1, 1, 4096, 4096, true, "write16") // all immediate: at its LUN
	readCmd(h, 2, 2, 4096)
	for i := 0; i < 5; i++ {
		h.m.CheckDataOut()
		h.drain()
	}
	if strings.Contains(h.out.String(), "over:") {
		t.Fatalf("a connection that owes nothing was dropped:\n%s", h.out.String())
	}
}

// readCmd sends a READ(16) of edtl bytes.
func readCmd(h *harness, itt, cmdSN, edtl uint32) {
	p := &iscsi.PDU{}
	b := &p.BHS
	b.SetOpcode(iscsi.OpSCSICmd)
	b.SetFlags(iscsi.FlagFinal | iscsi.CmdFlagRead | 1)
	b.SetITT(itt)
	b.SetCmdSN(cmdSN)
	b.SetExpectedDataTransferLength(edtl)
	b.SetLUN(scsi.EncodeLUN(0))
	copy(b.CDB(), cdb("read16", edtl))
	h.m.PDU(p, false)
	h.drain()
}

// TestWriteBudgetIsTargetWide: connections share one budget of write data; a WRITE
// beyond it gets TASK SET FULL on any connection, and an answered WRITE gives its
// bytes back.
func TestWriteBudgetIsTargetWide(t *testing.T) {
	budget := NewWriteBudget(1 << 20)
	cfg := defaultConfig()
	cfg.WriteBudget = budget
	a, b := newHarness(cfg, 1), newHarness(cfg, 1)
	writeCmd(a, 1, 1, 1<<20, 0, true, "write16") // waits for its data: holds 1 MiB
	if got := budget.Used(); got != 1<<20 {
		t.Fatalf("budget used %d after a 1 MiB WRITE, want %d", got, 1<<20)
	}
	writeCmd(b, 1, 1, 4096, 0, true, "write16")
	if !strings.Contains(b.out.String(), "status=0x28") && !strings.Contains(b.out.String(), "task-set-full") {
		t.Fatalf("a WRITE beyond the target's budget was not answered TASK SET FULL:\n%s", b.out.String())
	}
	if got := budget.Used(); got != 1<<20 {
		t.Fatalf("a refused WRITE left the budget at %d", got)
	}
	a.m.Closed("test") // never dispatched: its data is given back
	if got := budget.Used(); got != 0 {
		t.Fatalf("budget used %d after the connection holding it closed", got)
	}
}

// TestDataInHeldFollowsReads: the machine counts the EDTL of its READs until they
// are answered, which the reader holds against its Data-In bound.
func TestDataInHeldFollowsReads(t *testing.T) {
	h := newHarness(defaultConfig(), 1)
	readCmd(h, 1, 1, 1<<20)
	readCmd(h, 2, 2, 4096)
	if got := h.m.DataInHeld(); got != 1<<20+4096 {
		t.Fatalf("DataInHeld %d with two READs in flight, want %d", got, 1<<20+4096)
	}
	for _, itt := range []uint32{1, 2} {
		if h.atLUN[itt] == nil {
			t.Fatalf("READ %d not at its LUN:\n%s", itt, h.out.String())
		}
		delete(h.atLUN, itt)
		h.m.Complete(&pb.ScsiCompletion{Itt: itt, DataIn: make([]byte, 4096), TransferLength: 4096})
		h.drain()
	}
	if got := h.m.DataInHeld(); got != 0 {
		t.Fatalf("DataInHeld %d after both READs were answered", got)
	}
}

// TestAnsweredWriteLeavesNoDataInTask: the task message, which lives on in slab
// chunks (the connection's, and an IO record's at its LUN), lets go of the pooled
// write data once the task is answered.
func TestAnsweredWriteLeavesNoDataInTask(t *testing.T) {
	h := newHarness(defaultConfig(), 1)
	p := &iscsi.PDU{Data: h.data(4096, true)}
	b := &p.BHS
	b.SetOpcode(iscsi.OpSCSICmd)
	b.SetFlags(iscsi.FlagFinal | iscsi.CmdFlagWrite | 1)
	b.SetITT(1)
	b.SetCmdSN(1)
	b.SetExpectedDataTransferLength(4096)
	b.SetLUN(scsi.EncodeLUN(0))
	copy(b.CDB(), cdb("write16", 4096))
	h.m.PDU(p, true)
	h.drain()
	task := h.atLUN[1]
	if task == nil || task.DataOut == nil {
		t.Fatalf("WRITE not at its LUN with its data:\n%s", h.out.String())
	}
	delete(h.atLUN, 1)
	h.m.Complete(&pb.ScsiCompletion{Itt: 1, TransferLength: 4096})
	h.drain()
	if task.DataOut != nil || task.DataOutParts != nil {
		t.Fatal("the answered task still points to its write data")
	}
}
