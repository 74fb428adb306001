package inprocess

import (
	"context"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/atgt/atgt/actors/target"
	"github.com/atgt/atgt/actors/trace"
	"github.com/atgt/atgt/actors/trace/otel"
	pb "github.com/atgt/atgt/messages/atgtv1"
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

// replier hands the ScsiCompletions it receives to a channel.
type replier chan *pb.ScsiCompletion

func (r replier) Receive(ctx actor.Context) {
	if m, ok := ctx.Message().(*pb.ScsiCompletion); ok {
		r <- m
	}
}

// TestOTelContinuesEmbedderTrace: a task an embedder sends to a LUN actor itself,
// with a W3C traceparent, is answered, and its span is exported as a child of the
// embedder's span, in the embedder's trace, with the LUN's and worker's hops.
func TestOTelContinuesEmbedderTrace(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	defer tp.Shutdown(context.Background())
	system := actor.NewActorSystem()
	defer system.Shutdown()
	svc := startWith(t, baseConfig(t), target.Options{System: system, TraceSinks: []trace.Sink{otel.NewSink(tp)}})
	lunPID := svc.LUNActor(targetName, 0)
	if lunPID == nil {
		t.Fatal("no LUN actor for LUN 0")
	}
	answers := make(replier, 1)
	me := system.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return answers }))
	const traceID, spanID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	system.Root.Send(lunPID, &pb.ScsiTask{Itt: 7, Target: targetName, Lun: 0, Cdb: read16(0, 1), Read: true,
		ExpectedLength: blockSize, Nexus: "embedder", ReplyTo: pb.NewPid(me),
		Traceparent: "00-" + traceID + "-" + spanID + "-01"})
	select {
	case c := <-answers:
		if c.Itt != 7 {
			t.Fatalf("answer for itt %d", c.Itt)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the LUN did not answer the embedder's task")
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		for _, sp := range exp.GetSpans().Snapshots() {
			if sp.Name() != "READ(16)" {
				continue
			}
			if sp.SpanContext().TraceID().String() != traceID || sp.Parent().SpanID().String() != spanID {
				t.Fatalf("task span in trace %s under %s, want %s under %s", sp.SpanContext().TraceID(),
					sp.Parent().SpanID(), traceID, spanID)
			}
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("no span exported for the embedder's task")
}
