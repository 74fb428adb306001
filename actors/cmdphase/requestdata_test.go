package cmdphase

import (
	"fmt"
	"strings"
	"testing"

	"github.com/atgt/atgt/messages/iscsi"
)

// nopOut sends a non-immediate NOP-Out that asks for a NOP-In, carrying n bytes of
// ping data (RFC 7143 11.18).
func nopOut(h *harness, itt, cmdSN, n uint32) {
	p := &iscsi.PDU{Data: make([]byte, n)}
	b := &p.BHS
	b.SetOpcode(iscsi.OpNopOut)
	b.SetFinal(true)
	b.SetITT(itt)
	b.SetTTT(iscsi.ReservedTag)
	b.SetCmdSN(cmdSN)
	h.m.PDU(p, false)
	h.drain()
}

// TestRequestDataCountsAsWriteData: the data of a NOP-Out (or Text Request) held
// for CmdSN order, behind a CmdSN hole for as long as it lasts (RFC 7143 4.2.2.1),
// counts as write data does, against the connection's and the target's bounds. A
// request beyond them is rejected (11.17.1, reason 0x0a: out of resources) and
// its CmdSN taken, so no hole is left behind it; the data held goes back when the
// requests are released, or when the connection ends.
func TestRequestDataCountsAsWriteData(t *testing.T) {
	const seg = 256 << 10
	for _, end := range []string{"hole filled", "connection closed"} {
		t.Run(end, func(t *testing.T) {
			budget := NewWriteBudget(1 << 20)
			cfg := defaultConfig()
			cfg.WriteBudget = budget
			cfg.QueueDepth = 16
			h := newHarness(cfg, 1)
			// CmdSN 1 is missing: each NOP-Out waits behind it.
			for i := uint32(2); i <= 7; i++ {
				nopOut(h, 0x100+i, i, seg)
			}
			if got := budget.Used(); got != 1<<20 {
				t.Fatalf("write budget used %d with four 256 KiB NOP-Outs held (and two refused), want %d", got, 1<<20)
			}
			out := h.out.String()
			for _, itt := range []uint32{0x106, 0x107} {
				if !hasLine(out, "Reject reason=0x0a ", fmt.Sprintf("of NOP-Out itt=%#x ", itt)) {
					t.Fatalf("NOP-Out %#x beyond the write budget was not rejected (0x0a):\n%s", itt, out)
				}
			}
			for _, sn := range []int{6, 7} {
				if !strings.Contains(out, fmt.Sprintf("consume cmdsn=%d", sn)) {
					t.Fatalf("the rejected NOP-Out's CmdSN %d was not taken:\n%s", sn, out)
				}
			}
			if end == "hole filled" {
				nopOut(h, 0x101, 1, 0)
				if n := strings.Count(h.out.String(), "NOP-In itt=0x10"); n != 5 {
					t.Fatalf("%d NOP-Ins after the hole filled, want 5:\n%s", n, h.out.String())
				}
			} else {
				h.m.Closed("test")
			}
			if got := budget.Used(); got != 0 {
				t.Fatalf("write budget used %d once the NOP-Outs were %s", got, end)
			}
		})
	}
}

// TestClosedGivesBackWriteBudget: a connection that ends gives back the write
// budget of every task, those whose data a LUN has or the session may still send
// to one included: their completions never reach the ended connection, so the
// share stayed taken for good, and a hole timeout that ends a connection with
// WRITEs whose data is all there behind the hole freed nothing.
func TestClosedGivesBackWriteBudget(t *testing.T) {
	budget := NewWriteBudget(1 << 20)
	cfg := defaultConfig()
	cfg.WriteBudget = budget
	h := newHarness(cfg, 1)
	writeCmd(h, 1, 1, 4096, 4096, true, "write16") // all its data: at its LUN
	writeCmd(h, 2, 3, 4096, 4096, true, "write16") // all its data, behind the hole at CmdSN 2
	if h.atLUN[1] == nil || h.atLUN[2] != nil {
		t.Fatalf("want WRITE 1 at its LUN and WRITE 2 behind the hole:\n%s", h.out.String())
	}
	if got := budget.Used(); got != 8192 {
		t.Fatalf("write budget used %d, want 8192", got)
	}
	h.m.Closed("test")
	if got := budget.Used(); got != 0 {
		t.Fatalf("write budget used %d after the connection closed", got)
	}
}

// hasLine reports whether a line of out contains every one of parts.
func hasLine(out string, parts ...string) bool {
	for _, l := range strings.Split(out, "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(l, p)
		}
		if all {
			return true
		}
	}
	return false
}
