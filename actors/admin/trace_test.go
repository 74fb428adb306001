package admin_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/go-hclog"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/atgt/atgt/actors/admin"
	"github.com/atgt/atgt/actors/admin/admintest"
	"github.com/atgt/atgt/actors/logging"
	pb "github.com/atgt/atgt/messages/atgtv1"
)

// TestCallContinuesTraceParent: a Call's TraceParent, or the traceparent header of
// the envelope it came in, becomes the parent of the call's span, so that an
// embedder's trace shows what it asked of the target; a call without one starts a
// trace, and a failed call's span is an error.
func TestCallContinuesTraceParent(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(tp)
	t.Cleanup(func() {
		otel.SetTracerProvider(prev)
		_ = tp.Shutdown(context.Background())
	})

	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return logging.NewSlog(hclog.NewNullLogger())
	}))
	defer sys.Shutdown()
	cfg, sessions := admintest.Sample()
	pid := sys.Root.Spawn(admin.Props(admintest.New(cfg, sessions)))
	results := make(chan *admin.Result, 4)
	probe := sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if r, ok := ctx.Message().(*admin.Result); ok {
			results <- r
		}
	}))
	wait := func(id uint64) *admin.Result {
		t.Helper()
		select {
		case r := <-results:
			if r.ID != id {
				t.Fatalf("answer %d, want %d", r.ID, id)
			}
			return r
		case <-time.After(5 * time.Second):
			t.Fatalf("no answer to call %d", id)
		}
		return nil
	}

	const (
		trace1, span1 = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
		trace2, span2 = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
	)
	sys.Root.Send(pid, &admin.Call{ID: 1, ReplyTo: probe, Request: &pb.StatusRequest{}, TraceParent: "00-" + trace1 + "-" + span1 + "-01"})
	if r := wait(1); r.Err != nil {
		t.Fatal(r.Err)
	}
	sys.Root.Send(pid, &actor.MessageEnvelope{
		Header:  map[string]string{"traceparent": "00-" + trace2 + "-" + span2 + "-01"},
		Message: &admin.Call{ID: 2, ReplyTo: probe, Request: &pb.RemoveLunRequest{Target: "iqn.2026-11.dev.atgt:vm1", Id: 99}},
	})
	if r := wait(2); r.Err == nil {
		t.Fatal("removing a missing LUN succeeded")
	}
	sys.Root.Send(pid, &admin.Call{ID: 3, ReplyTo: probe, Request: &pb.ListLunsRequest{}})
	wait(3)

	spans := exp.GetSpans()
	if len(spans) != 3 {
		t.Fatalf("%d spans, want one per call: %v", len(spans), spans)
	}
	byName := map[string]tracetest.SpanStub{}
	for _, s := range spans {
		byName[s.Name] = s
	}
	st, ok := byName["admin Status"]
	if !ok || st.Parent.TraceID().String() != trace1 || st.Parent.SpanID().String() != span1 || st.SpanContext.TraceID().String() != trace1 {
		t.Errorf("Status call's span %+v, want a child of %s/%s", st, trace1, span1)
	}
	rm, ok := byName["admin RemoveLun"]
	if !ok || rm.Parent.SpanID().String() != span2 || rm.SpanContext.TraceID().String() != trace2 {
		t.Errorf("enveloped RemoveLun call's span %+v, want a child of %s/%s", rm, trace2, span2)
	}
	if rm.Status.Code != codes.Error {
		t.Errorf("a failed call's span has status %v", rm.Status)
	}
	ls, ok := byName["admin ListLuns"]
	if !ok || ls.Parent.IsValid() || !ls.SpanContext.IsValid() {
		t.Errorf("a call without trace context: span %+v, want a new trace", ls)
	}
}
