package admin

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"connectrpc.com/connect"
	"github.com/asynkron/protoactor-go/actor"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	oteltrace "go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"

	pb "github.com/atgt/atgt/messages/atgtv1"
)

// Call asks the admin actor to run the API method that Request's type names (see
// methods). The actor answers with one *Result sent to ReplyTo, or to the sender
// when ReplyTo is nil (so that RequestFuture works from outside an actor).
type Call struct {
	Request proto.Message
	ReplyTo *actor.PID
	// ID is copied to the Result, so that an actor with several calls out can tell
	// the answers apart.
	ID uint64
	// TraceParent is a W3C traceparent ("00-<trace id>-<span id>-<flags>") of the
	// embedder's trace that this call belongs to: the call's span (made with the
	// global OpenTelemetry tracer provider, a no-op unless the program sets one)
	// continues that trace. Without it a "traceparent" header of the
	// actor.MessageEnvelope carrying the Call is used.
	TraceParent string
}

// Result answers a Call: Response is the method's response message (its type is
// the request's *Response twin) when Err is nil. Err is a *connect.Error, as from
// the API itself.
type Result struct {
	ID       uint64
	Response proto.Message
	Err      error
}

// method is one row of the dispatch table.
type method struct {
	// change marks methods that change the served state; they run one at a time, in
	// the order their Calls arrived.
	change bool
	call   func(context.Context, API, proto.Message) (proto.Message, error)
}

// methods maps each request type to its API method:
//
//	request message                  API method      kind
//	atgt.v1.StatusRequest            Status          query
//	atgt.v1.ListTargetsRequest       ListTargets     query
//	atgt.v1.ListLunsRequest          ListLuns        query
//	atgt.v1.ListSessionsRequest      ListSessions    query
//	atgt.v1.StatsRequest             Stats           query
//	atgt.v1.GetConfigRequest         GetConfig       query
//	atgt.v1.AddTargetRequest         AddTarget       change
//	atgt.v1.RemoveTargetRequest      RemoveTarget    change
//	atgt.v1.AddLunRequest            AddLun          change
//	atgt.v1.RemoveLunRequest         RemoveLun       change
//	atgt.v1.ResizeLunRequest         ResizeLun       change
//	atgt.v1.AddAclRequest            AddAcl          change
//	atgt.v1.RemoveAclRequest         RemoveAcl       change
//	atgt.v1.LogoutSessionRequest     LogoutSession   change
//	atgt.v1.SetFaultsRequest         SetFaults       change
//	atgt.v1.ClearFaultsRequest       ClearFaults     change
//	atgt.v1.ApplyConfigRequest       ApplyConfig     change (a dry run too, to see a settled state)
//	atgt.v1.SetTraceLevelRequest     SetTraceLevel   change
//	atgt.v1.TraceRecentRequest       TraceRecent     query
//	atgt.v1.TraceTaskRequest         TraceTask       query
//	atgt.v1.TraceSlowRequest         TraceSlow       query
//	atgt.v1.TraceStatsRequest        TraceStats      query
//	atgt.v1.TraceTailRequest         TraceTail       query (a long poll)
var methods = map[reflect.Type]method{
	typeOf[pb.StatusRequest]():        entry(false, API.Status),
	typeOf[pb.ListTargetsRequest]():   entry(false, API.ListTargets),
	typeOf[pb.ListLunsRequest]():      entry(false, API.ListLuns),
	typeOf[pb.ListSessionsRequest]():  entry(false, API.ListSessions),
	typeOf[pb.StatsRequest]():         entry(false, API.Stats),
	typeOf[pb.GetConfigRequest]():     entry(false, API.GetConfig),
	typeOf[pb.AddTargetRequest]():     entry(true, API.AddTarget),
	typeOf[pb.RemoveTargetRequest]():  entry(true, API.RemoveTarget),
	typeOf[pb.AddLunRequest]():        entry(true, API.AddLun),
	typeOf[pb.RemoveLunRequest]():     entry(true, API.RemoveLun),
	typeOf[pb.ResizeLunRequest]():     entry(true, API.ResizeLun),
	typeOf[pb.AddAclRequest]():        entry(true, API.AddAcl),
	typeOf[pb.RemoveAclRequest]():     entry(true, API.RemoveAcl),
	typeOf[pb.LogoutSessionRequest](): entry(true, API.LogoutSession),
	typeOf[pb.SetFaultsRequest]():     entry(true, API.SetFaults),
	typeOf[pb.ClearFaultsRequest]():   entry(true, API.ClearFaults),
	typeOf[pb.ApplyConfigRequest]():   entry(true, API.ApplyConfig),
	typeOf[pb.SetTraceLevelRequest](): entry(true, API.SetTraceLevel),
	typeOf[pb.TraceRecentRequest]():   entry(false, API.TraceRecent),
	typeOf[pb.TraceTaskRequest]():     entry(false, API.TraceTask),
	typeOf[pb.TraceSlowRequest]():     entry(false, API.TraceSlow),
	typeOf[pb.TraceStatsRequest]():    entry(false, API.TraceStats),
	typeOf[pb.TraceTailRequest]():     entry(false, API.TraceTail),
}

// typeOf is the Go type of a *T request, the table's key.
func typeOf[T any]() reflect.Type { return reflect.TypeFor[*T]() }

// entry makes a table row from a method expression such as API.Status.
func entry[Req, Resp any](change bool, f func(API, context.Context, *Req) (*Resp, error)) method {
	return method{change: change, call: func(ctx context.Context, api API, req proto.Message) (proto.Message, error) {
		resp, err := f(api, ctx, req.(any).(*Req))
		if err != nil {
			return nil, asConnectError(err)
		}
		if resp == nil {
			resp = new(Resp)
		}
		return any(resp).(proto.Message), nil
	}}
}

// Props returns the admin actor's props: the API as actor messages. The actor
// never waits for a method: each runs in a goroutine of its own (LogoutSession may
// wait a whole grace period) that sends the Result. Queries run at once, side by
// side; changes run one at a time in arrival order, so that an actor that sends
// AddLun and then ResizeLun gets them applied in that order. When the actor stops,
// calls in progress are cancelled through their context and queued changes are
// answered with CodeCanceled.
func Props(api API) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor { return &adminActor{api: api} })
}

// adminActor is the actor Props makes; it owns the queue of pending changes.
type adminActor struct {
	api     API
	ctx     context.Context
	cancel  context.CancelFunc
	pending []job // changes waiting for the one in progress
	busy    bool  // a change is in progress
}

// job is one call the actor has accepted.
type job struct {
	m       method
	call    *Call
	replyTo *actor.PID
	// trace is the W3C trace context the call came with (TraceParent, or the
	// envelope's traceparent and tracestate headers), read while in Receive.
	trace propagation.MapCarrier
}

// changeDone tells the actor that the change in progress has answered.
type changeDone struct{}

// Receive dispatches Calls and starts the next queued change when one ends.
func (a *adminActor) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *actor.Started:
		a.ctx, a.cancel = context.WithCancel(context.Background())
	case *actor.Stopping:
		a.cancel()
		for _, j := range a.pending { // never started: answer rather than leave them waiting
			ctx.Send(j.replyTo, &Result{ID: j.call.ID, Err: connect.NewError(connect.CodeCanceled, errors.New("admin: the admin actor stopped before this change ran"))})
		}
		a.pending = nil
	case *Call:
		a.receiveCall(ctx, msg)
	case changeDone:
		a.busy = false
		a.next(ctx)
	}
}

// receiveCall answers a bad Call at once and runs or queues a good one.
func (a *adminActor) receiveCall(ctx actor.Context, c *Call) {
	replyTo := c.ReplyTo
	if replyTo == nil {
		replyTo = ctx.Sender()
	}
	if replyTo == nil {
		return // nobody to answer: a Send without ReplyTo is a mistake the caller can't see
	}
	m, ok := methods[reflect.TypeOf(c.Request)]
	if !ok || reflect.ValueOf(c.Request).IsNil() {
		ctx.Send(replyTo, &Result{ID: c.ID, Err: Invalid("admin: %s is not an admin request", describe(c.Request))})
		return
	}
	j := job{m: m, call: c, replyTo: replyTo, trace: traceContext(ctx, c)}
	if !m.change {
		a.run(ctx, j, false)
		return
	}
	a.pending = append(a.pending, j)
	a.next(ctx)
}

// next starts the oldest queued change unless one is in progress.
func (a *adminActor) next(ctx actor.Context) {
	if a.busy || len(a.pending) == 0 {
		return
	}
	j := a.pending[0]
	a.pending[0] = job{}
	a.pending = a.pending[1:]
	a.busy = true
	a.run(ctx, j, true)
}

// run calls the method in a goroutine, which answers through the root context (an
// actor.Context must not be used outside Receive) and, for a change, tells the
// actor it may start the next.
func (a *adminActor) run(ctx actor.Context, j job, change bool) {
	root, self, callCtx := ctx.ActorSystem().Root, ctx.Self(), a.ctx
	go func() {
		spanCtx, span := startSpan(callCtx, j)
		resp, err := callSafely(spanCtx, a.api, j)
		if err != nil {
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
		root.Send(j.replyTo, &Result{ID: j.call.ID, Response: resp, Err: err})
		if change {
			root.Send(self, changeDone{})
		}
	}()
}

// callSafely runs the job's method and turns its panic into an internal error, as
// the HTTP form does, so that a bug in one method neither ends the daemon nor leaves
// the caller without an answer.
func callSafely(ctx context.Context, api API, j job) (resp proto.Message, err error) {
	defer func() {
		if p := recover(); p != nil {
			resp, err = nil, Internal("admin: %s: panic: %v", describe(j.call.Request), p)
		}
	}()
	return j.m.call(ctx, api, j.call.Request)
}

// describe names a request's type for an error message.
func describe(m proto.Message) string {
	if m == nil {
		return "a nil request"
	}
	return fmt.Sprintf("%T", m)
}

// tracerName is the instrumentation scope of admin call spans.
const tracerName = "github.com/atgt/atgt/actors/admin"

// traceContext collects the W3C trace context of a call: its TraceParent, else the
// traceparent (and tracestate) headers of the envelope it came in. Nil: none.
func traceContext(ctx actor.Context, c *Call) propagation.MapCarrier {
	var carrier propagation.MapCarrier
	if h := ctx.MessageHeader(); h != nil && h.Get("traceparent") != "" {
		carrier = propagation.MapCarrier{"traceparent": h.Get("traceparent")}
		if ts := h.Get("tracestate"); ts != "" {
			carrier["tracestate"] = ts
		}
	}
	if c.TraceParent != "" {
		carrier = propagation.MapCarrier{"traceparent": c.TraceParent}
	}
	return carrier
}

// startSpan starts the call's span, "admin AddLun" for an AddLunRequest, as a child
// of the caller's trace context when it gave one, so that an embedder's trace shows
// the changes it asked of the target.
func startSpan(ctx context.Context, j job) (context.Context, oteltrace.Span) {
	if j.trace != nil {
		ctx = propagation.TraceContext{}.Extract(ctx, j.trace)
	}
	name := strings.TrimSuffix(string(j.call.Request.ProtoReflect().Descriptor().Name()), "Request")
	return otel.Tracer(tracerName).Start(ctx, "admin "+name, oteltrace.WithSpanKind(oteltrace.SpanKindServer))
}
