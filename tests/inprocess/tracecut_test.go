package inprocess

import (
	"testing"
	"time"

	"github.com/atgt/atgt/actors/target"
	"github.com/atgt/atgt/actors/trace"
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/tests/initiator"
)

// TestCutTimelineSaysSo: a traced WRITE of 8 KiB in 16 Data-Out PDUs whose worker
// panics once (an injected panic fault, retried) fills the record's 24 slots before
// its response is written: the timeline, and the admin API's message of it, say how
// many events were dropped.
func TestCutTimelineSaysSo(t *testing.T) {
	cfg := baseConfig(t)
	cfg.Negotiation = &pb.Negotiation{MaxRecvDataSegmentLength: 512}
	cfg.Targets[0].Luns[0].Faults = []*pb.Fault{{Op: "write", Kind: "panic", Count: 1}}
	svc := startWith(t, cfg, target.Options{TraceLevel: "light"})
	f := false
	s := dial(t, svc.Addrs()[0], initiator.Options{ImmediateData: &f})
	ready(t, s, 0)
	if err := s.Write(0, 0, randomData(3, 8192), blockSize, false); err != nil {
		t.Logf("WRITE: %v", err)
	}
	time.Sleep(200 * time.Millisecond)
	for _, tl := range svc.Tracer().Recent(20, trace.Any) {
		if tl.ID.Opcode != 0x8a {
			continue
		}
		var hops []string
		last := trace.Hop(0)
		for _, e := range tl.Events {
			hops = append(hops, e.Hop.String())
			last = e.Hop
		}
		t.Logf("WRITE(16) status 0x%02x, %d events: %v", tl.Status, len(tl.Events), hops)
		if last != trace.HopWritten && tl.Dropped == 0 {
			t.Errorf("the traced WRITE's timeline ends at %s, not written, and does not say it was cut short", last)
		}
		if m := target.TimelineMsg(tl); int(m.Dropped) != tl.Dropped {
			t.Errorf("admin API message says %d events dropped, the timeline %d", m.Dropped, tl.Dropped)
		}
		return
	}
	t.Fatal("no traced WRITE(16)")
}
