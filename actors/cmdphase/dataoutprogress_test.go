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
			h, ttt := solicitedWrite(t, itt)
			over := func() bool { return strings.Contains(h.out.String(), "over: data-out timeout") }
			// Four: a Data-Out at a wrong offset within the burst means one went
			// missing, and the first reaches into the rest of the sequence, which
			// is progress (TestDataOutTimeoutLostDataStillProgresses); the repeats
			// are not.
			for i := 0; i < 4 && !over(); i++ {
				c.send(h, ttt)
				h.m.CheckDataOut()
				h.drain()
			}
			if !over() {
				t.Fatalf("a Data-Out before each of four checks (%s) kept the task from the Data-Out timeout:\n%s",
					c.name, h.out.String())
			}
		})
	}
}

// solicitedWrite starts a 64 KiB WRITE(16) with no unsolicited data and returns the
// harness and the TTT of the R2T that asks for all of it.
func solicitedWrite(t *testing.T, itt uint32) (*harness, uint32) {
	t.Helper()
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
	return h, ttt
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

// TestDataOutTimeoutLostDataStillProgresses: a task whose data is lost (a Data-Out
// went missing, RFC 7143 7.8) waits for the rest of each sequence it was sent, up to
// the Data-Out with F, before it is answered. That rest, arriving slowly (a slow
// link), is the initiator sending what it owes: each Data-Out that reaches further
// into its sequence is progress, and the connection is not cut while it comes. One
// that reaches no further (sent again at an offset already seen) is not, so the
// timeout still ends a peer that repeats itself instead of finishing the sequence.
func TestDataOutTimeoutLostDataStillProgresses(t *testing.T) {
	const itt = 1
	setup := func(t *testing.T) (*harness, uint32) {
		h, ttt := solicitedWrite(t, itt)
		// DataSN 0 at offset 0 never arrived: the task's data is lost.
		bogusDataOut(h, itt, ttt, 1, 4096, 4096)
		return h, ttt
	}
	over := func(h *harness) bool { return strings.Contains(h.out.String(), "over: data-out timeout") }
	t.Run("rest of the sequence, slowly", func(t *testing.T) {
		h, ttt := setup(t)
		for i := uint32(2); i < 16; i++ {
			h.m.CheckDataOut()
			h.drain()
			bogusDataOut(h, itt, ttt, i, i*4096, 4096)
			if over(h) {
				t.Fatalf("connection cut at Data-Out %d while the rest of a lost sequence kept coming:\n%s", i, h.out.String())
			}
		}
		dataOut(h, itt, ttt, 16*4096-4096, 4096, true) // the sequence's F
		if over(h) || !strings.Contains(h.out.String(), "status=0x02") {
			t.Fatalf("the lost task was not answered CHECK CONDITION after its sequence ended:\n%s", h.out.String())
		}
	})
	t.Run("the same offset again", func(t *testing.T) {
		h, ttt := setup(t)
		for i := 0; i < 4 && !over(h); i++ {
			bogusDataOut(h, itt, ttt, 1, 4096, 4096)
			h.m.CheckDataOut()
			h.drain()
		}
		if !over(h) {
			t.Fatalf("a Data-Out repeating an offset already seen kept a lost task from the Data-Out timeout:\n%s", h.out.String())
		}
	})
}

// TestDataOutTimeoutLostUnsolicitedStillProgresses: as
// TestDataOutTimeoutLostDataStillProgresses, for unsolicited data (InitialR2T=No):
// the rest of the first burst, arriving slowly after a Data-Out went missing, keeps
// the connection; the burst's F answers the task.
func TestDataOutTimeoutLostUnsolicitedStillProgresses(t *testing.T) {
	const itt = 1
	h := newHarness(defaultConfig(), 1) // InitialR2T=No, FirstBurstLength 64 KiB
	writeCmd(h, itt, 1, 65536, 0, false, "write16")
	over := func() bool { return strings.Contains(h.out.String(), "over: data-out timeout") }
	for i := uint32(1); i < 15; i++ { // DataSN 0 at offset 0 never arrived
		bogusDataOut(h, itt, iscsi.ReservedTag, i, i*4096, 4096)
		h.m.CheckDataOut()
		h.drain()
		if over() {
			t.Fatalf("connection cut at Data-Out %d while the rest of a lost first burst kept coming:\n%s", i, h.out.String())
		}
	}
	dataOut(h, itt, iscsi.ReservedTag, 15*4096, 4096, true)
	if over() || !strings.Contains(h.out.String(), "status=0x02") {
		t.Fatalf("the lost task was not answered CHECK CONDITION after its burst ended:\n%s", h.out.String())
	}
}
