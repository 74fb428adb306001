package cmdphase

import (
	"strings"
	"testing"

	"github.com/atgt/atgt/messages/iscsi"
)

// TestDataOutTimeoutCountsOnlyAcceptedData: only a Data-Out whose data the task
// keeps is progress for the Data-Out timeout. A Data-Out the target rejects (a
// DataSN or buffer offset out of sequence: RFC 7143 11.7.5, 11.7.6; DataPDUInOrder=Yes,
// 13.19), one that carries no data, or one for a task whose data is lost (discarded
// until the sequence ends, 7.8) moves nothing of what the initiator owes; counted,
// one such PDU per check kept a WRITE, and its share of the write budget, for ever.
func TestDataOutTimeoutCountsOnlyAcceptedData(t *testing.T) {
	const itt = 1
	cases := []struct {
		name string
		send func(h *harness, ttt uint32)
	}{
		{"wrong DataSN", func(h *harness, ttt uint32) { bogusDataOut(h, itt, ttt, 0xffffffff, 0, 0) }},
		{"wrong offset", func(h *harness, ttt uint32) { bogusDataOut(h, itt, ttt, 0, 60000, 512) }},
		{"no data", func(h *harness, ttt uint32) { bogusDataOut(h, itt, ttt, 0, 0, 0) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(defaultConfig(), 1)
			var ttt uint32
			h.onPDU = func(p *iscsi.PDU) {
				if p.BHS.Opcode() == iscsi.OpR2T {
					ttt = p.BHS.TTT()
				}
			}
			writeCmd(h, itt, 1, 65536, 0, true, "write16")
			if ttt == 0 {
				t.Fatalf("no R2T:\n%s", h.out.String())
			}
			over := func() bool { return strings.Contains(h.out.String(), "over: data-out timeout") }
			for i := 0; i < 3 && !over(); i++ {
				c.send(h, ttt)
				h.m.CheckDataOut()
				h.drain()
			}
			if !over() {
				t.Fatalf("a Data-Out before each of three checks (%s) kept the task from the Data-Out timeout:\n%s",
					c.name, h.out.String())
			}
		})
	}
}

// bogusDataOut sends a solicited Data-Out of n bytes at off with DataSN sn, F=0.
func bogusDataOut(h *harness, itt, ttt, sn, off, n uint32) {
	p := &iscsi.PDU{Data: make([]byte, n)}
	b := &p.BHS
	b.SetOpcode(iscsi.OpDataOut)
	b.SetITT(itt)
	b.SetTTT(ttt)
	b.SetDataSN(sn)
	b.SetBufferOffset(off)
	h.m.PDU(p, false)
	h.drain()
}
