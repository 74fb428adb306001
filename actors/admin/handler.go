package admin

import (
	"context"
	"errors"
	"net/http"

	"connectrpc.com/connect"

	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/atgtv1/atgtv1connect"
)

// NewHandler adapts api to the Connect handler the generated code serves, so that
// the API is written once as plain Go methods and the HTTP form only wraps and
// unwraps messages.
func NewHandler(api API) atgtv1connect.AdminServiceHandler { return handler{api: api} }

// NewHTTPHandler returns the HTTP handler that serves api under
// /atgt.v1.AdminService/, /atgt.v1.TraceService/ and /atgt.v1.FaultService/ in the
// Connect protocol (protobuf or JSON over HTTP/1.1 or
// h2c) and gRPC. JSON requests with unknown fields are refused (codec.go). A panic
// in a method is answered as an internal error instead of ending the daemon.
func NewHTTPHandler(api API) http.Handler {
	opts := []connect.HandlerOption{
		connect.WithRecover(recoverPanic),
		connect.WithCodec(strictJSON{name: "json"}),
		connect.WithCodec(strictJSON{name: "json; charset=utf-8"}),
		connect.WithReadMaxBytes(maxRequestBytes),
	}
	h := handler{api: api}
	mux := http.NewServeMux()
	mux.Handle(atgtv1connect.NewAdminServiceHandler(h, opts...))
	mux.Handle(atgtv1connect.NewTraceServiceHandler(h, opts...))
	mux.Handle(atgtv1connect.NewFaultServiceHandler(h, opts...))
	return mux
}

// maxRequestBytes bounds one request: the largest is a whole config.
const maxRequestBytes = 16 << 20

// recoverPanic turns a method's panic into CodeInternal.
func recoverPanic(_ context.Context, spec connect.Spec, _ http.Header, p any) error {
	return Internal("%s: panic: %v", spec.Procedure, p)
}

// asConnectError keeps an error that already carries a Connect code (the helpers in
// api.go make those) and gives any other its nearest code, CodeInternal when it has
// none: a plain error from deep inside the service is a failure of the service, not
// of the request.
func asConnectError(err error) error {
	var ce *connect.Error
	switch {
	case errors.As(err, &ce):
		return err
	case errors.Is(err, context.DeadlineExceeded):
		return connect.NewError(connect.CodeDeadlineExceeded, err)
	case errors.Is(err, context.Canceled):
		return connect.NewError(connect.CodeCanceled, err)
	}
	return connect.NewError(connect.CodeInternal, err)
}

// unary calls one API method with the request's message and wraps its answer. A nil
// response with no error becomes an empty message, so a client never sees a nil.
func unary[Req, Resp any](ctx context.Context, api API, method func(API, context.Context, *Req) (*Resp, error), req *connect.Request[Req]) (*connect.Response[Resp], error) {
	resp, err := method(api, ctx, req.Msg)
	if err != nil {
		return nil, asConnectError(err)
	}
	if resp == nil {
		resp = new(Resp)
	}
	return connect.NewResponse(resp), nil
}

// handler is the adapter NewHandler returns; each method is one line of unary.
type handler struct{ api API }

func (h handler) Status(ctx context.Context, r *connect.Request[pb.StatusRequest]) (*connect.Response[pb.StatusResponse], error) {
	return unary(ctx, h.api, API.Status, r)
}

func (h handler) ListTargets(ctx context.Context, r *connect.Request[pb.ListTargetsRequest]) (*connect.Response[pb.ListTargetsResponse], error) {
	return unary(ctx, h.api, API.ListTargets, r)
}

func (h handler) ListLuns(ctx context.Context, r *connect.Request[pb.ListLunsRequest]) (*connect.Response[pb.ListLunsResponse], error) {
	return unary(ctx, h.api, API.ListLuns, r)
}

func (h handler) ListSessions(ctx context.Context, r *connect.Request[pb.ListSessionsRequest]) (*connect.Response[pb.ListSessionsResponse], error) {
	return unary(ctx, h.api, API.ListSessions, r)
}

func (h handler) AddTarget(ctx context.Context, r *connect.Request[pb.AddTargetRequest]) (*connect.Response[pb.AddTargetResponse], error) {
	return unary(ctx, h.api, API.AddTarget, r)
}

func (h handler) RemoveTarget(ctx context.Context, r *connect.Request[pb.RemoveTargetRequest]) (*connect.Response[pb.RemoveTargetResponse], error) {
	return unary(ctx, h.api, API.RemoveTarget, r)
}

func (h handler) AddLun(ctx context.Context, r *connect.Request[pb.AddLunRequest]) (*connect.Response[pb.AddLunResponse], error) {
	return unary(ctx, h.api, API.AddLun, r)
}

func (h handler) RemoveLun(ctx context.Context, r *connect.Request[pb.RemoveLunRequest]) (*connect.Response[pb.RemoveLunResponse], error) {
	return unary(ctx, h.api, API.RemoveLun, r)
}

func (h handler) ResizeLun(ctx context.Context, r *connect.Request[pb.ResizeLunRequest]) (*connect.Response[pb.ResizeLunResponse], error) {
	return unary(ctx, h.api, API.ResizeLun, r)
}

func (h handler) AddAcl(ctx context.Context, r *connect.Request[pb.AddAclRequest]) (*connect.Response[pb.AddAclResponse], error) {
	return unary(ctx, h.api, API.AddAcl, r)
}

func (h handler) RemoveAcl(ctx context.Context, r *connect.Request[pb.RemoveAclRequest]) (*connect.Response[pb.RemoveAclResponse], error) {
	return unary(ctx, h.api, API.RemoveAcl, r)
}

func (h handler) LogoutSession(ctx context.Context, r *connect.Request[pb.LogoutSessionRequest]) (*connect.Response[pb.LogoutSessionResponse], error) {
	return unary(ctx, h.api, API.LogoutSession, r)
}

func (h handler) Stats(ctx context.Context, r *connect.Request[pb.StatsRequest]) (*connect.Response[pb.StatsResponse], error) {
	return unary(ctx, h.api, API.Stats, r)
}

func (h handler) SetFaults(ctx context.Context, r *connect.Request[pb.SetFaultsRequest]) (*connect.Response[pb.SetFaultsResponse], error) {
	return unary(ctx, h.api, API.SetFaults, r)
}

func (h handler) ClearFaults(ctx context.Context, r *connect.Request[pb.ClearFaultsRequest]) (*connect.Response[pb.ClearFaultsResponse], error) {
	return unary(ctx, h.api, API.ClearFaults, r)
}

func (h handler) GetConfig(ctx context.Context, r *connect.Request[pb.GetConfigRequest]) (*connect.Response[pb.GetConfigResponse], error) {
	return unary(ctx, h.api, API.GetConfig, r)
}

func (h handler) ApplyConfig(ctx context.Context, r *connect.Request[pb.ApplyConfigRequest]) (*connect.Response[pb.ApplyConfigResponse], error) {
	return unary(ctx, h.api, API.ApplyConfig, r)
}

func (h handler) SetTraceLevel(ctx context.Context, r *connect.Request[pb.SetTraceLevelRequest]) (*connect.Response[pb.SetTraceLevelResponse], error) {
	return unary(ctx, h.api, API.SetTraceLevel, r)
}

func (h handler) TraceRecent(ctx context.Context, r *connect.Request[pb.TraceRecentRequest]) (*connect.Response[pb.TraceRecentResponse], error) {
	return unary(ctx, h.api, API.TraceRecent, r)
}

func (h handler) TraceTask(ctx context.Context, r *connect.Request[pb.TraceTaskRequest]) (*connect.Response[pb.TraceTaskResponse], error) {
	return unary(ctx, h.api, API.TraceTask, r)
}

func (h handler) TraceSlow(ctx context.Context, r *connect.Request[pb.TraceSlowRequest]) (*connect.Response[pb.TraceSlowResponse], error) {
	return unary(ctx, h.api, API.TraceSlow, r)
}

func (h handler) TraceStats(ctx context.Context, r *connect.Request[pb.TraceStatsRequest]) (*connect.Response[pb.TraceStatsResponse], error) {
	return unary(ctx, h.api, API.TraceStats, r)
}

func (h handler) TraceTail(ctx context.Context, r *connect.Request[pb.TraceTailRequest]) (*connect.Response[pb.TraceTailResponse], error) {
	return unary(ctx, h.api, API.TraceTail, r)
}
