package otel

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	oteltrace "go.opentelemetry.io/otel/trace"

	"github.com/atgt/atgt/actors/trace"
	"github.com/atgt/atgt/messages/scsi"
)

// mono0 is the test clock's reading when a test sink is made.
const mono0 = 1_000_000

// newTestSink returns a sink whose spans go synchronously to an in-memory exporter,
// with a fixed monotonic clock so that every event's wall time is known.
func newTestSink(t *testing.T) (*Sink, *tracetest.InMemoryExporter) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return NewSink(tp, WithClock(func() int64 { return mono0 })), exp
}

// readTimeline is a READ(16) as the recorder would finish it: five hops, the third
// a backend call with bytes and a result.
func readTimeline(itt uint32) *trace.Timeline {
	return &trace.Timeline{
		ID: trace.TaskID{
			Initiator: "iqn.2026-11.dev.test:init", Target: "iqn.2026-11.dev.atgt:default",
			ISID: [6]byte{0x80, 0x12, 0x34, 0x56, 0x78, 0x9a}, TSIH: 7, ITT: itt, CmdSN: 42 + itt,
			LUN: 3, Opcode: scsi.OpRead16,
		},
		Events: []trace.Event{
			{Hop: 1, Actor: "conn", ActorID: "conn$1", Message: "", TNs: mono0 + 1000},
			{Hop: 2, Actor: "session", ActorID: "sess$2", Message: "CommandOrder", TNs: mono0 + 1500},
			{Hop: 3, Actor: "lun", ActorID: "lun$3", Message: "ScsiTask", TNs: mono0 + 4000, Detail: "checks passed"},
			{Hop: 4, Actor: "worker", ActorID: "worker$4", Message: "IoRequest", TNs: mono0 + 9000, Bytes: 4096, Result: "4096"},
			{Hop: 5, Actor: "conn", ActorID: "conn$1", Message: "ScsiCompletion", TNs: mono0 + 10000},
		},
	}
}

// split returns the one root span (no local parent) and its children ordered by
// start time; it fails unless every span is one or the other.
func split(t *testing.T, spans tracetest.SpanStubs) (root tracetest.SpanStub, hops []tracetest.SpanStub) {
	t.Helper()
	roots := 0
	for _, s := range spans {
		if !s.Parent.IsValid() || s.Parent.IsRemote() {
			root = s
			roots++
		}
	}
	if roots != 1 {
		t.Fatalf("%d root spans among %d, want 1", roots, len(spans))
	}
	for _, s := range spans {
		if s.SpanContext.SpanID() == root.SpanContext.SpanID() {
			continue
		}
		if s.Parent.SpanID() != root.SpanContext.SpanID() {
			t.Fatalf("span %q has parent %s, not the task's span %s", s.Name, s.Parent.SpanID(), root.SpanContext.SpanID())
		}
		if s.SpanContext.TraceID() != root.SpanContext.TraceID() {
			t.Fatalf("span %q is in trace %s, not the task's %s", s.Name, s.SpanContext.TraceID(), root.SpanContext.TraceID())
		}
		hops = append(hops, s)
	}
	sort.SliceStable(hops, func(i, j int) bool { return hops[i].StartTime.Before(hops[j].StartTime) })
	return root, hops
}

// attrs turns a span's attributes into a map for lookups.
func attrs(kvs []attribute.KeyValue) map[attribute.Key]attribute.Value {
	m := make(map[attribute.Key]attribute.Value, len(kvs))
	for _, kv := range kvs {
		m[kv.Key] = kv.Value
	}
	return m
}

func TestFinishedTaskSpanAndHops(t *testing.T) {
	s, exp := newTestSink(t)
	tl := readTimeline(0x1234)
	s.Finished(tl)
	spans := exp.GetSpans()
	if len(spans) != 1+len(tl.Events) {
		t.Fatalf("%d spans, want the task's and one per hop: %d", len(spans), 1+len(tl.Events))
	}
	root, hops := split(t, spans)
	if root.Name != "READ(16)" || root.SpanKind != oteltrace.SpanKindServer {
		t.Errorf("task span %q kind %v, want READ(16) server", root.Name, root.SpanKind)
	}
	if root.Parent.IsValid() {
		t.Errorf("task span has parent %v without a traceparent", root.Parent)
	}
	if want := s.Wall(mono0 + 1000); !root.StartTime.Equal(want) {
		t.Errorf("task starts %v, want the first event's %v", root.StartTime, want)
	}
	if got := root.EndTime.Sub(root.StartTime); got != 9000 {
		t.Errorf("task lasts %v, want first to last event, 9µs", got)
	}
	if root.Status.Code != codes.Unset {
		t.Errorf("a GOOD task has status %v", root.Status)
	}
	a := attrs(root.Attributes)
	for k, want := range map[attribute.Key]attribute.Value{
		AttrInitiator: attribute.StringValue("iqn.2026-11.dev.test:init"),
		AttrTarget:    attribute.StringValue("iqn.2026-11.dev.atgt:default"),
		AttrISID:      attribute.StringValue("80123456789a"),
		AttrTSIH:      attribute.IntValue(7),
		AttrITT:       attribute.Int64Value(0x1234),
		AttrCmdSN:     attribute.Int64Value(42 + 0x1234),
		AttrLUN:       attribute.Int64Value(3),
		AttrOpcode:    attribute.IntValue(0x88),
		AttrStatus:    attribute.IntValue(0),
	} {
		if got, ok := a[k]; !ok || got != want {
			t.Errorf("task attribute %s = %v (present %v), want %v", k, got.Emit(), ok, want.Emit())
		}
	}
	for _, k := range []attribute.Key{AttrSenseKey, AttrASC, AttrASCQ, AttrBad} {
		if _, ok := a[k]; ok {
			t.Errorf("a GOOD task has %s", k)
		}
	}

	wantDur := []time.Duration{500, 2500, 5000, 1000, 0} // to the next event; the last is an instant
	for i, h := range hops {
		ev := tl.Events[i]
		if h.Name != fmt.Sprint(ev.Hop) {
			t.Errorf("hop %d named %q, want %q", i, h.Name, fmt.Sprint(ev.Hop))
		}
		if h.SpanKind != oteltrace.SpanKindInternal {
			t.Errorf("hop %d kind %v", i, h.SpanKind)
		}
		if !h.StartTime.Equal(s.Wall(ev.TNs)) {
			t.Errorf("hop %d starts %v, want %v", i, h.StartTime, s.Wall(ev.TNs))
		}
		if d := h.EndTime.Sub(h.StartTime); d != wantDur[i] {
			t.Errorf("hop %d lasts %v, want %v", i, d, wantDur[i])
		}
		ha := attrs(h.Attributes)
		if ha[AttrActor].AsString() != ev.Actor || ha[AttrActorID].AsString() != ev.ActorID || ha[AttrMessage].AsString() != ev.Message {
			t.Errorf("hop %d attributes %v, want actor %s id %s message %q", i, h.Attributes, ev.Actor, ev.ActorID, ev.Message)
		}
		if _, ok := ha[AttrMessage]; !ok {
			t.Errorf("hop %d has no %s", i, AttrMessage)
		}
		if b, ok := ha[AttrBytes]; ok != (ev.Bytes != 0) || b.AsInt64() != ev.Bytes {
			t.Errorf("hop %d bytes %v (present %v), want %d", i, b.Emit(), ok, ev.Bytes)
		}
		if r, ok := ha[AttrResult]; ok != (ev.Result != "") || r.AsString() != ev.Result {
			t.Errorf("hop %d result %q (present %v), want %q", i, r.AsString(), ok, ev.Result)
		}
		if d, ok := ha[AttrDetail]; ok != (ev.Detail != "") || d.AsString() != ev.Detail {
			t.Errorf("hop %d detail %q (present %v), want %q", i, d.AsString(), ok, ev.Detail)
		}
	}
	if !hops[len(hops)-1].EndTime.Equal(root.EndTime) {
		t.Errorf("last hop ends %v, task %v", hops[len(hops)-1].EndTime, root.EndTime)
	}
}

// fixedSense is fixed-format sense data with the given key, ASC and ASCQ.
func fixedSense(key, asc, ascq uint8) []byte {
	return scsi.AppendSense(nil, &scsi.SenseError{Key: key, ASC: asc, ASCQ: ascq})
}

func TestFinishedBadTaskHasErrorStatusAndSense(t *testing.T) {
	s, exp := newTestSink(t)
	tl := readTimeline(9)
	tl.Status, tl.Sense, tl.Bad = scsi.StatusCheckCondition, fixedSense(scsi.SenseMediumError, 0x11, 0x00), true
	s.Finished(tl)
	root, hops := split(t, exp.GetSpans())
	if len(hops) != len(tl.Events) {
		t.Fatalf("%d hops, want %d", len(hops), len(tl.Events))
	}
	if root.Status.Code != codes.Error || root.Status.Description != "CHECK CONDITION, MEDIUM ERROR 11/00" {
		t.Errorf("bad task status %+v, want Error CHECK CONDITION, MEDIUM ERROR 11/00", root.Status)
	}
	a := attrs(root.Attributes)
	if a[AttrStatus].AsInt64() != 2 || a[AttrSenseKey].AsInt64() != 3 || a[AttrASC].AsInt64() != 0x11 || a[AttrASCQ].AsInt64() != 0 || !a[AttrBad].AsBool() {
		t.Errorf("bad task attributes %v", root.Attributes)
	}
	for _, h := range hops {
		if h.Status.Code != codes.Unset {
			t.Errorf("hop %q has status %v: only the task's span carries the outcome", h.Name, h.Status)
		}
	}
}

func TestFinishedUnitAttentionIsNotAnError(t *testing.T) {
	s, exp := newTestSink(t)
	tl := readTimeline(10)
	// Descriptor-format sense (0x72): key, ASC, ASCQ in bytes 1-3.
	tl.Status, tl.Sense = scsi.StatusCheckCondition, []byte{0x72, scsi.SenseUnitAttention, 0x29, 0x00, 0, 0, 0, 0}
	s.Finished(tl)
	root, _ := split(t, exp.GetSpans())
	if root.Status.Code != codes.Unset {
		t.Errorf("a unit attention the recorder did not mark bad has status %v", root.Status)
	}
	a := attrs(root.Attributes)
	if a[AttrSenseKey].AsInt64() != 6 || a[AttrASC].AsInt64() != 0x29 || a[AttrASCQ].AsInt64() != 0 {
		t.Errorf("descriptor sense read as %v", root.Attributes)
	}
	if _, ok := a[AttrBad]; ok {
		t.Errorf("%s set on a task not marked bad", AttrBad)
	}
}

func TestFinishedAbortedTask(t *testing.T) {
	s, exp := newTestSink(t)
	tl := readTimeline(11)
	tl.Status, tl.Bad = scsi.StatusTaskAborted, true
	s.Finished(tl)
	root, _ := split(t, exp.GetSpans())
	if root.Status.Code != codes.Error || root.Status.Description != "TASK ABORTED" {
		t.Errorf("aborted task status %+v", root.Status)
	}
	if _, ok := attrs(root.Attributes)[AttrSenseKey]; ok {
		t.Error("sense attributes without CHECK CONDITION")
	}
}

func TestFinishedContinuesTraceParent(t *testing.T) {
	const (
		traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
		spanID  = "00f067aa0ba902b7"
	)
	s, exp := newTestSink(t)
	tl := readTimeline(12)
	tl.TraceParent = "00-" + traceID + "-" + spanID + "-01"
	s.Finished(tl)
	spans := exp.GetSpans()
	root, hops := split(t, spans)
	if !root.Parent.IsRemote() || root.Parent.TraceID().String() != traceID || root.Parent.SpanID().String() != spanID {
		t.Fatalf("task span's parent %+v, want remote %s/%s", root.Parent, traceID, spanID)
	}
	if root.SpanContext.TraceID().String() != traceID {
		t.Errorf("task span in trace %s, want the embedder's %s", root.SpanContext.TraceID(), traceID)
	}
	if len(hops) != len(tl.Events) {
		t.Fatalf("%d hops, want %d", len(hops), len(tl.Events))
	}
	for _, h := range hops {
		if h.SpanContext.TraceID().String() != traceID {
			t.Errorf("hop %q in trace %s", h.Name, h.SpanContext.TraceID())
		}
	}
}

func TestFinishedUnsampledTraceParentRecordsNothing(t *testing.T) {
	s, exp := newTestSink(t)
	tl := readTimeline(13)
	tl.TraceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00" // the embedder sampled it out
	s.Finished(tl)
	if n := len(exp.GetSpans()); n != 0 {
		t.Errorf("%d spans for a task whose parent was not sampled (the SDK's default sampler follows the parent)", n)
	}
}

func TestFinishedBadTraceParentStartsATrace(t *testing.T) {
	s, exp := newTestSink(t)
	tl := readTimeline(14)
	tl.TraceParent = "not-a-traceparent"
	s.Finished(tl)
	root, hops := split(t, exp.GetSpans())
	if root.Parent.IsValid() || !root.SpanContext.TraceID().IsValid() || len(hops) != len(tl.Events) {
		t.Errorf("with an invalid traceparent: parent %v, trace %v, %d hops", root.Parent, root.SpanContext.TraceID(), len(hops))
	}
}

func TestFinishedEachTaskItsOwnTrace(t *testing.T) {
	s, exp := newTestSink(t)
	var wg sync.WaitGroup
	for i := range 8 { // as from several LUNs at once
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.Finished(readTimeline(uint32(100 + i)))
		}()
	}
	wg.Wait()
	byTrace := map[oteltrace.TraceID]tracetest.SpanStubs{}
	for _, sp := range exp.GetSpans() {
		byTrace[sp.SpanContext.TraceID()] = append(byTrace[sp.SpanContext.TraceID()], sp)
	}
	if len(byTrace) != 8 {
		t.Fatalf("%d traces for 8 tasks", len(byTrace))
	}
	itts := map[int64]bool{}
	for _, spans := range byTrace {
		root, hops := split(t, spans)
		if len(hops) != 5 {
			t.Errorf("task %q: %d hops", root.Name, len(hops))
		}
		itts[attrs(root.Attributes)[AttrITT].AsInt64()] = true
	}
	if len(itts) != 8 {
		t.Errorf("ITTs %v, want 8 different", itts)
	}
}

func TestFinishedWithoutEvents(t *testing.T) {
	s, exp := newTestSink(t)
	s.Finished(&trace.Timeline{ID: trace.TaskID{Opcode: scsi.OpInquiry}})
	s.Finished(nil)
	spans := exp.GetSpans()
	if len(spans) != 1 || spans[0].Name != "INQUIRY" || !spans[0].StartTime.Equal(s.Wall(mono0)) {
		t.Fatalf("a timeline without events gave %d spans %v", len(spans), spans)
	}
}

func TestSpanName(t *testing.T) {
	for op, want := range map[uint8]string{
		scsi.OpRead16: "READ(16)", scsi.OpWrite10: "WRITE(10)", scsi.OpTestUnitReady: "TEST UNIT READY",
		0xC1: "SCSI 0xC1", 0xFF: "SCSI 0xFF",
	} {
		if got := SpanName(op); got != want {
			t.Errorf("SpanName(0x%02X) = %q, want %q", op, got, want)
		}
	}
}

func TestWallIsOneConversion(t *testing.T) {
	mono := int64(5_000_000_000)
	before := time.Now()
	s := NewSink(sdktrace.NewTracerProvider(), WithClock(func() int64 { return mono }))
	after := time.Now()
	if w := s.Wall(mono); w.Before(before.Round(0)) || w.After(after.Round(0)) {
		t.Errorf("Wall(now) = %v, not between %v and %v", w, before, after)
	}
	if d := s.Wall(mono + 1234567).Sub(s.Wall(mono)); d != 1234567 {
		t.Errorf("1234567 ns apart on the monotonic clock are %v apart on the wall", d)
	}
	if d := s.Wall(mono - int64(time.Second)).Sub(s.Wall(mono)); d != -time.Second {
		t.Errorf("an event before the sink was made is placed %v off", d)
	}
}

func TestSinkOnCallersProviderIsNotShutDown(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	s := NewSink(tp)
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	s.Finished(readTimeline(1))
	if n := len(exp.GetSpans()); n != 6 {
		t.Errorf("after the sink's Shutdown the caller's provider exported %d spans, want 6", n)
	}
}

func TestParseEndpoint(t *testing.T) {
	for _, c := range []struct {
		in, host, path string
		insecure       bool
		err            string
	}{
		{in: "http://127.0.0.1:4318", host: "127.0.0.1:4318", path: "/v1/traces", insecure: true},
		{in: "http://collector:4318/", host: "collector:4318", path: "/v1/traces", insecure: true},
		{in: "https://otel.example.com/custom/traces", host: "otel.example.com", path: "/custom/traces"},
		{in: "127.0.0.1:4318", err: "not an http"},
		{in: "grpc://127.0.0.1:4317", err: "not an http"},
		{in: "http://", err: "no host"},
		{in: "http://h:1/v1/traces?x=1", err: "query"},
		{in: "", err: "not an http"},
	} {
		host, path, insecure, err := ParseEndpoint(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ParseEndpoint(%q) error %v, want one with %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || host != c.host || path != c.path || insecure != c.insecure {
			t.Errorf("ParseEndpoint(%q) = %q %q %v %v, want %q %q %v", c.in, host, path, insecure, err, c.host, c.path, c.insecure)
		}
	}
}

// discard is an exporter that drops every batch, so that a benchmark measures the
// span making and the batch processor's queue, not a network.
type discard struct{}

func (discard) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discard) Shutdown(context.Context) error                             { return nil }

// BenchmarkFinished is what one five-hop task costs the goroutine that finishes it
// with export on (the batch processor's default queue; spans are dropped, not
// waited for, if it fills).
func BenchmarkFinished(b *testing.B) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(discard{}))
	defer tp.Shutdown(context.Background()) //nolint:errcheck // a benchmark
	s := NewSink(tp)
	tl := readTimeline(1)
	b.ReportAllocs()
	for b.Loop() {
		s.Finished(tl)
	}
}

func TestSamplerKeepsBadTasks(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp), sdktrace.WithSampler(Sampler(1e-12)))
	defer tp.Shutdown(context.Background()) //nolint:errcheck // a test
	s := NewSink(tp)
	for i := range 50 {
		s.Finished(readTimeline(uint32(i)))
	}
	if n := len(exp.GetSpans()); n != 0 {
		t.Fatalf("a ratio of 1e-12 exported %d spans of 50 good tasks", n)
	}
	bad := readTimeline(99)
	bad.Status, bad.Sense, bad.Bad = scsi.StatusCheckCondition, fixedSense(scsi.SenseMediumError, 0x11, 0), true
	s.Finished(bad)
	root, hops := split(t, exp.GetSpans())
	if attrs(root.Attributes)[AttrITT].AsInt64() != 99 || len(hops) != len(bad.Events) {
		t.Errorf("the bad task exported as %q ITT %v with %d hops", root.Name, attrs(root.Attributes)[AttrITT].Emit(), len(hops))
	}
	for _, r := range []float64{0, 1, 2} {
		if d := Sampler(r).Description(); !strings.Contains(d, "AlwaysOnSampler") {
			t.Errorf("Sampler(%v) = %s, want every task", r, d)
		}
	}
}

// BenchmarkFinishedSampledOut is what a task not sampled costs (SampleRatio).
func BenchmarkFinishedSampledOut(b *testing.B) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(discard{}), sdktrace.WithSampler(Sampler(1e-12)))
	defer tp.Shutdown(context.Background()) //nolint:errcheck // a benchmark
	s := NewSink(tp)
	tl := readTimeline(1)
	b.ReportAllocs()
	for b.Loop() {
		s.Finished(tl)
	}
}
