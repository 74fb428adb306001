package inprocess

import (
	"context"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/atgt/atgt/actors/target"
	"github.com/atgt/atgt/actors/trace"
	"github.com/atgt/atgt/actors/trace/otel"
	"github.com/atgt/atgt/tests/initiator"
)

// TestOTelSpansFromRealTasks: with tracing on and the OpenTelemetry sink given in
// Options.TraceSinks, a READ through the real target becomes one span named by its
// opcode, with the initiator's identity, and one child span per recorded hop, the
// LUN's and the IO worker's among them, all in the task's trace.
func TestOTelSpansFromRealTasks(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	defer tp.Shutdown(context.Background())
	sink := otel.NewSink(tp)
	svc := startWith(t, baseConfig(t), target.Options{TraceLevel: "light", TraceSinks: []trace.Sink{sink}})
	s := dial(t, svc.Addrs()[0], initiator.Options{})
	ready(t, s, 0)
	if _, err := s.Read(0, 8, 4, blockSize); err != nil {
		t.Fatal(err)
	}
	var root sdktrace.ReadOnlySpan
	deadline := time.Now().Add(5 * time.Second)
	for root == nil && time.Now().Before(deadline) {
		for _, sp := range exp.GetSpans().Snapshots() {
			if sp.Name() == "READ(16)" {
				root = sp
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if root == nil {
		t.Fatal("no READ(16) span exported")
	}
	attrs := map[string]string{}
	for _, kv := range root.Attributes() {
		attrs[string(kv.Key)] = kv.Value.Emit()
	}
	if attrs["iscsi.initiator"] != initiatorName || attrs["scsi.lun"] != "0" || attrs["scsi.opcode"] != "136" {
		t.Fatalf("task span attributes: %v", attrs)
	}
	actors := map[string]bool{}
	children := 0
	for _, sp := range exp.GetSpans().Snapshots() {
		if sp.Parent().SpanID() == root.SpanContext().SpanID() {
			if sp.SpanContext().TraceID() != root.SpanContext().TraceID() {
				t.Fatalf("hop span %s in another trace", sp.Name())
			}
			children++
			for _, kv := range sp.Attributes() {
				if kv.Key == "atgt.actor" {
					actors[kv.Value.AsString()] = true
				}
			}
		}
	}
	for _, a := range []string{"conn", "session", "lun", "worker"} {
		if !actors[a] {
			t.Errorf("no hop span by %s (hops by %v, %d children)", a, actors, children)
		}
	}
}
