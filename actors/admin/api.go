// Package admin holds atgt's administration API in its three forms: the Go interface
// the running service implements (API), the actor that serves it as messages, and the
// Connect/HTTP server on a unix socket that atgtctl and curl use. The service is
// defined once, in proto/atgt/v1/admin.proto.
package admin

import (
	"context"
	"fmt"

	"connectrpc.com/connect"

	pb "github.com/atgt/atgt/messages/atgtv1"
)

// API is the admin service as Go methods: what an embedder calls on its handle, and
// what the actor and the HTTP server forward to. *target.Service implements it.
// Errors are *connect.Error values made with the helpers below, so that every form
// reports the same code (not found, invalid, exists, busy) and message.
type API interface {
	Status(context.Context, *pb.StatusRequest) (*pb.StatusResponse, error)
	ListTargets(context.Context, *pb.ListTargetsRequest) (*pb.ListTargetsResponse, error)
	ListLuns(context.Context, *pb.ListLunsRequest) (*pb.ListLunsResponse, error)
	ListSessions(context.Context, *pb.ListSessionsRequest) (*pb.ListSessionsResponse, error)
	AddTarget(context.Context, *pb.AddTargetRequest) (*pb.AddTargetResponse, error)
	RemoveTarget(context.Context, *pb.RemoveTargetRequest) (*pb.RemoveTargetResponse, error)
	AddLun(context.Context, *pb.AddLunRequest) (*pb.AddLunResponse, error)
	RemoveLun(context.Context, *pb.RemoveLunRequest) (*pb.RemoveLunResponse, error)
	ResizeLun(context.Context, *pb.ResizeLunRequest) (*pb.ResizeLunResponse, error)
	AddAcl(context.Context, *pb.AddAclRequest) (*pb.AddAclResponse, error)
	RemoveAcl(context.Context, *pb.RemoveAclRequest) (*pb.RemoveAclResponse, error)
	LogoutSession(context.Context, *pb.LogoutSessionRequest) (*pb.LogoutSessionResponse, error)
	Stats(context.Context, *pb.StatsRequest) (*pb.StatsResponse, error)
	SetFaults(context.Context, *pb.SetFaultsRequest) (*pb.SetFaultsResponse, error)
	ClearFaults(context.Context, *pb.ClearFaultsRequest) (*pb.ClearFaultsResponse, error)
	GetConfig(context.Context, *pb.GetConfigRequest) (*pb.GetConfigResponse, error)
	ApplyConfig(context.Context, *pb.ApplyConfigRequest) (*pb.ApplyConfigResponse, error)
	// The trace methods (README "Tracing"); TraceTail is a long poll.
	SetTraceLevel(context.Context, *pb.SetTraceLevelRequest) (*pb.SetTraceLevelResponse, error)
	TraceRecent(context.Context, *pb.TraceRecentRequest) (*pb.TraceRecentResponse, error)
	TraceTask(context.Context, *pb.TraceTaskRequest) (*pb.TraceTaskResponse, error)
	TraceSlow(context.Context, *pb.TraceSlowRequest) (*pb.TraceSlowResponse, error)
	TraceStats(context.Context, *pb.TraceStatsRequest) (*pb.TraceStatsResponse, error)
	TraceTail(context.Context, *pb.TraceTailRequest) (*pb.TraceTailResponse, error)
}

// NotFound reports that the object a request names does not exist.
func NotFound(format string, args ...any) error {
	return connect.NewError(connect.CodeNotFound, fmt.Errorf(format, args...))
}

// Invalid reports a bad request: a bad field value, a missing argument. The message
// names the field.
func Invalid(format string, args ...any) error {
	return connect.NewError(connect.CodeInvalidArgument, fmt.Errorf(format, args...))
}

// Exists reports that the object a request would add is already there.
func Exists(format string, args ...any) error {
	return connect.NewError(connect.CodeAlreadyExists, fmt.Errorf(format, args...))
}

// Busy reports a change refused in the object's present state (a LUN with tasks in
// flight, a shrink without the shrink flag).
func Busy(format string, args ...any) error {
	return connect.NewError(connect.CodeFailedPrecondition, fmt.Errorf(format, args...))
}

// Internal reports a failure of the target itself (a file that cannot be written).
func Internal(format string, args ...any) error {
	return connect.NewError(connect.CodeInternal, fmt.Errorf(format, args...))
}
