// Package otel exports finished SCSI tasks as OpenTelemetry spans, so that a task's
// path through atgt's actors shows in the same tracing backend (Jaeger, Tempo, an
// OpenTelemetry Collector) as the rest of a storage system, and an embedder's own
// trace continues into the tasks it submits.
//
// Each task becomes one span named by its opcode ("READ(16)", or "SCSI 0x88" for an
// opcode without a name), carrying the task's identity as an initiator knows it, with
// one child span per hop of its timeline. Spans are made with the standard
// OpenTelemetry Go SDK and sent by its batch span processor, so Finished never waits
// for the network: when the exporter falls behind, spans are dropped, never the task.
//
// Timestamps: trace events carry a monotonic nanosecond clock (metrics.Now unless
// WithClock names another), which cannot jump with NTP but has no date. A sink reads
// the wall clock and the monotonic clock once, when it is made, and places every
// event at wall0 + (TNs - mono0): hops keep their exact monotonic durations, and the
// whole trace is off by at most the wall clock's drift since the sink was made.
package otel

import (
	"context"
	"encoding/hex"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	oteltrace "go.opentelemetry.io/otel/trace"

	"github.com/atgt/atgt/actors/metrics"
	"github.com/atgt/atgt/actors/trace"
	"github.com/atgt/atgt/messages/scsi"
)

// ScopeName is the instrumentation scope of atgt's task spans, as a backend shows it.
const ScopeName = "github.com/atgt/atgt/actors/trace/otel"

// The attribute keys of a task's span: the identity an initiator and its logs know.
const (
	AttrInitiator = attribute.Key("iscsi.initiator")
	AttrTarget    = attribute.Key("iscsi.target")
	AttrISID      = attribute.Key("iscsi.isid") // 12 hex digits
	AttrTSIH      = attribute.Key("iscsi.tsih")
	AttrITT       = attribute.Key("iscsi.itt")
	AttrCmdSN     = attribute.Key("iscsi.cmdsn")
	AttrLUN       = attribute.Key("scsi.lun")
	AttrOpcode    = attribute.Key("scsi.opcode")
	AttrStatus    = attribute.Key("scsi.status")
	// The sense of a CHECK CONDITION, which says why (SPC-4 4.5).
	AttrSenseKey = attribute.Key("scsi.sense_key")
	AttrASC      = attribute.Key("scsi.asc")
	AttrASCQ     = attribute.Key("scsi.ascq")
	// AttrBad marks a task the flight recorder logged.
	AttrBad = attribute.Key("atgt.bad")
	// AttrDropped counts the events the task's record had no room for: its hops are
	// cut short.
	AttrDropped = attribute.Key("atgt.dropped_events")
)

// The attribute keys of a hop's span: where it happened and what it moved.
const (
	AttrActor   = attribute.Key("atgt.actor")    // the actor kind: conn, session, lun, worker...
	AttrActorID = attribute.Key("atgt.actor_id") // its PID id
	AttrMessage = attribute.Key("atgt.message")  // the message type that carried the task in
	AttrBytes   = attribute.Key("atgt.bytes")    // only when non-zero
	AttrResult  = attribute.Key("atgt.result")   // only when set
	AttrDetail  = attribute.Key("atgt.detail")   // only when set
)

// Sink is a trace.Sink that turns each finished task into spans. It is safe for
// concurrent use by every LUN.
type Sink struct {
	tracer oteltrace.Tracer
	prop   propagation.TextMapPropagator
	clock  func() int64
	// wall0 and mono0 are the wall and monotonic clocks read together when the sink
	// was made: the one conversion of every event's time (see the package doc).
	wall0 time.Time
	mono0 int64
	// owned is the provider New made, which Shutdown flushes and stops; nil when
	// the provider is the caller's.
	owned interface {
		ForceFlush(context.Context) error
		Shutdown(context.Context) error
	}
	provider oteltrace.TracerProvider
}

var _ trace.Sink = (*Sink)(nil)

// Option adjusts a sink.
type Option func(*Sink)

// WithClock names the monotonic nanosecond clock the events were stamped with, when
// the recorder uses another than metrics.Now (a test, or an embedder's recorder).
func WithClock(now func() int64) Option { return func(s *Sink) { s.clock = now } }

// NewSink makes a sink that creates its spans with tp, a provider the caller owns
// (an embedder's pipeline, or a test's in-memory exporter) and flushes itself.
func NewSink(tp oteltrace.TracerProvider, opts ...Option) *Sink {
	s := &Sink{
		tracer:   tp.Tracer(ScopeName),
		prop:     propagation.TraceContext{},
		clock:    metrics.Now,
		provider: tp,
	}
	for _, o := range opts {
		o(s)
	}
	// Read back to back, so that the pair is one instant to within nanoseconds.
	s.wall0, s.mono0 = time.Now().Round(0), s.clock()
	return s
}

// TracerProvider is the provider the sink's spans come from, for the rest of a
// program (atgtd makes it the global one, so admin calls are traced too).
func (s *Sink) TracerProvider() oteltrace.TracerProvider { return s.provider }

// Wall returns the wall time of a monotonic timestamp of the sink's clock.
func (s *Sink) Wall(tNs int64) time.Time { return s.wall0.Add(time.Duration(tNs - s.mono0)) }

// Finished exports one task: a span for the task and a child span per hop. The
// spans are ended at once with the events' times, so the provider's processor
// queues them (a batch processor never blocks), and nothing of tl is kept.
func (s *Sink) Finished(tl *trace.Timeline) {
	if tl == nil {
		return
	}
	ctx := context.Background()
	if tl.TraceParent != "" {
		// An invalid traceparent extracts to nothing: the task starts a new trace.
		ctx = s.prop.Extract(ctx, propagation.MapCarrier{"traceparent": tl.TraceParent})
	}
	var start, end time.Time
	if n := len(tl.Events); n > 0 {
		start, end = s.Wall(tl.Events[0].TNs), s.Wall(tl.Events[n-1].TNs)
	} else {
		start = s.Wall(s.clock())
		end = start
	}
	if end.Before(start) {
		end = start
	}
	startOpts := []oteltrace.SpanStartOption{
		oteltrace.WithSpanKind(oteltrace.SpanKindServer), // the initiator is the client
		oteltrace.WithTimestamp(start),
	}
	if tl.Bad { // the one attribute the sampler looks at (Sampler keeps bad tasks)
		startOpts = append(startOpts, oteltrace.WithAttributes(AttrBad.Bool(true)))
	}
	ctx, span := s.tracer.Start(ctx, SpanName(tl.ID.Opcode), startOpts...)
	if span.IsRecording() { // a task sampled out costs no more than this
		span.SetAttributes(taskAttributes(tl)...)
		if tl.Dropped > 0 {
			span.SetAttributes(AttrDropped.Int(tl.Dropped))
		}
		for i := range tl.Events {
			s.hop(ctx, tl, i)
		}
		if tl.Bad {
			span.SetStatus(codes.Error, statusText(tl.Status, tl.Sense))
		}
	}
	span.End(oteltrace.WithTimestamp(end))
}

// hop exports event i as a child span from its time to the next event's.
func (s *Sink) hop(ctx context.Context, tl *trace.Timeline, i int) {
	ev := &tl.Events[i]
	start := s.Wall(ev.TNs)
	end := start
	if i+1 < len(tl.Events) {
		if next := s.Wall(tl.Events[i+1].TNs); next.After(start) {
			end = next
		}
	}
	attrs := make([]attribute.KeyValue, 0, 6)
	attrs = append(attrs, AttrActor.String(ev.Actor), AttrActorID.String(ev.ActorID), AttrMessage.String(ev.Message))
	if ev.Bytes != 0 {
		attrs = append(attrs, AttrBytes.Int64(ev.Bytes))
	}
	if ev.Result != "" {
		attrs = append(attrs, AttrResult.String(ev.Result))
	}
	if ev.Detail != "" {
		attrs = append(attrs, AttrDetail.String(ev.Detail))
	}
	_, span := s.tracer.Start(ctx, fmt.Sprint(ev.Hop),
		oteltrace.WithSpanKind(oteltrace.SpanKindInternal),
		oteltrace.WithTimestamp(start),
		oteltrace.WithAttributes(attrs...))
	span.End(oteltrace.WithTimestamp(end))
}

// ForceFlush sends the spans queued so far, when the sink owns its provider.
func (s *Sink) ForceFlush(ctx context.Context) error {
	if s.owned == nil {
		return nil
	}
	return s.owned.ForceFlush(ctx)
}

// Shutdown flushes the queued spans and stops the exporter, when the sink owns its
// provider (New); a provider passed to NewSink is left to its owner.
func (s *Sink) Shutdown(ctx context.Context) error {
	if s.owned == nil {
		return nil
	}
	return s.owned.Shutdown(ctx)
}

// SpanName names a task's span by its opcode: the command's name from the SCSI
// dispatch table, or "SCSI 0xNN" for one it does not know.
func SpanName(op uint8) string {
	if name := scsi.Commands[op].Name; name != "" {
		return name
	}
	return fmt.Sprintf("SCSI 0x%02X", op)
}

// taskAttributes is the identity of a task and how it ended.
func taskAttributes(tl *trace.Timeline) []attribute.KeyValue {
	id := &tl.ID
	attrs := make([]attribute.KeyValue, 0, 12)
	attrs = append(attrs,
		AttrInitiator.String(id.Initiator),
		AttrTarget.String(id.Target),
		AttrISID.String(hex.EncodeToString(id.ISID[:])),
		AttrTSIH.Int(int(id.TSIH)),
		AttrITT.Int64(int64(id.ITT)),
		AttrCmdSN.Int64(int64(id.CmdSN)),
		AttrLUN.Int64(int64(id.LUN)), // LUN numbers in use are far below 2^63
		AttrOpcode.Int(int(id.Opcode)),
		AttrStatus.Int(int(tl.Status)),
	)
	if tl.Status == scsi.StatusCheckCondition {
		if key, asc, ascq, ok := parseSense(tl.Sense); ok {
			attrs = append(attrs, AttrSenseKey.Int(int(key)), AttrASC.Int(int(asc)), AttrASCQ.Int(int(ascq)))
		}
	}
	return attrs
}
