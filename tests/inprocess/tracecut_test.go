package inprocess

import (
	"testing"
	"time"

	"github.com/atgt/atgt/actors/target"
	"github.com/atgt/atgt/actors/trace"
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/tests/initiator"
)

// TestCutTimelineSaysSo: a traced WRITE sent in twice as many Data-Out PDUs (512
// bytes each) as a record has slots (trace.MaxEvents), whose worker panics once (an
// injected panic fault, retried), has more events than its record can hold whatever
// MaxEvents is: the timeline keeps at most MaxEvents, counts the rest as dropped,
// and the admin API's message of it says the same.
func TestCutTimelineSaysSo(t *testing.T) {
	const pduLen = 512
	dataOuts := 2 * trace.MaxEvents
	cfg := baseConfig(t)
	cfg.Negotiation = &pb.Negotiation{MaxRecvDataSegmentLength: pduLen}
	cfg.Targets[0].Luns[0].Faults = []*pb.Fault{{Op: "write", Kind: "panic", Count: 1}}
	svc := startWith(t, cfg, target.Options{TraceLevel: "light"})
	f := false
	s := dial(t, svc.Addrs()[0], initiator.Options{ImmediateData: &f})
	ready(t, s, 0)
	if err := s.Write(0, 0, randomData(3, dataOuts*pduLen), blockSize, false); err != nil {
		t.Fatalf("WRITE (its worker's panic is retried): %v", err)
	}
	time.Sleep(200 * time.Millisecond)
	for _, tl := range svc.Tracer().Recent(20, trace.Any) {
		if tl.ID.Opcode != 0x8a {
			continue
		}
		var hops []string
		for _, e := range tl.Events {
			hops = append(hops, e.Hop.String())
		}
		t.Logf("WRITE(16) status 0x%02x, %d events, %d dropped: %v", tl.Status, len(tl.Events), tl.Dropped, hops)
		if len(tl.Events) > trace.MaxEvents {
			t.Errorf("%d events kept, more than the %d slots", len(tl.Events), trace.MaxEvents)
		}
		// Each Data-Out PDU is an event: at least dataOuts in all.
		if tl.Dropped == 0 || len(tl.Events)+tl.Dropped < dataOuts {
			t.Errorf("the timeline keeps %d events and says %d were dropped; the WRITE had %d Data-Out PDUs alone",
				len(tl.Events), tl.Dropped, dataOuts)
		}
		if m := target.TimelineMsg(tl); int(m.Dropped) != tl.Dropped || len(m.Hops) != len(tl.Events) {
			t.Errorf("admin API message says %d events and %d dropped, the timeline %d and %d",
				len(m.Hops), m.Dropped, len(tl.Events), tl.Dropped)
		}
		return
	}
	t.Fatal("no traced WRITE(16)")
}
