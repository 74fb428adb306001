package target

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/atgt/atgt/actors/admin"
	"github.com/atgt/atgt/actors/trace"
	pb "github.com/atgt/atgt/messages/atgtv1"
)

// The admin API's trace methods (README "Tracing"). They read the connections'
// rings of finished tasks, never the data path's state; TraceTail is a long poll.

// Defaults and bounds of the trace queries.
const (
	defaultTraceTasks = 20
	defaultTailWait   = 5 * time.Second
	maxTailWait       = 30 * time.Second
	tailPoll          = 50 * time.Millisecond
)

// SetTraceLevel switches tracing at runtime for the tasks the filter selects.
func (s *Service) SetTraceLevel(_ context.Context, req *pb.SetTraceLevelRequest) (*pb.SetTraceLevelResponse, error) {
	level, ok := trace.ParseLevel(req.Level)
	if !ok || req.Level == "" {
		return nil, admin.Invalid("level: %q is not off, light or full", req.Level)
	}
	f := traceFilter(req.Filter)
	s.tracer.Set(trace.Settings{Level: level, Filter: f})
	s.log.Info("trace level set", "level", level, "filter", fmt.Sprintf("%+v", f))
	return &pb.SetTraceLevelResponse{Level: level.String(), Filter: filterMsg(f)}, nil
}

// TraceRecent returns the last finished traced tasks.
func (s *Service) TraceRecent(_ context.Context, req *pb.TraceRecentRequest) (*pb.TraceRecentResponse, error) {
	return &pb.TraceRecentResponse{Tasks: timelines(s.tracer.Recent(orN(req.N), traceFilter(req.Filter)))}, nil
}

// TraceTask returns the finished traced tasks with an ITT.
func (s *Service) TraceTask(_ context.Context, req *pb.TraceTaskRequest) (*pb.TraceTaskResponse, error) {
	tsih := -1
	if req.HasTsih {
		tsih = int(req.Tsih)
	}
	out := &pb.TraceTaskResponse{Tasks: timelines(s.tracer.Task(req.Itt, tsih))}
	if len(out.Tasks) == 0 {
		return nil, admin.NotFound("task 0x%x: not among the traced tasks kept (is tracing on? atgtctl trace level light)", req.Itt)
	}
	return out, nil
}

// TraceSlow returns the slowest recent traced tasks over a duration.
func (s *Service) TraceSlow(_ context.Context, req *pb.TraceSlowRequest) (*pb.TraceSlowResponse, error) {
	if req.OverSeconds < 0 {
		return nil, admin.Invalid("overSeconds: %v is negative", req.OverSeconds)
	}
	over := time.Duration(req.OverSeconds * float64(time.Second))
	return &pb.TraceSlowResponse{Tasks: timelines(s.tracer.Slow(over, orN(req.N), traceFilter(req.Filter)))}, nil
}

// TraceStats returns per-hop latency percentiles over the recent traced tasks.
func (s *Service) TraceStats(_ context.Context, req *pb.TraceStatsRequest) (*pb.TraceStatsResponse, error) {
	hops, n := s.tracer.Stats(traceFilter(req.Filter))
	finished, sunk, dropped := s.tracer.Counters()
	out := &pb.TraceStatsResponse{Tasks: uint64(n), Finished: finished, Sunk: sunk, SinkDropped: dropped,
		Level: s.tracer.Level().String()}
	for _, h := range hops {
		out.Hops = append(out.Hops, &pb.TraceHopStats{Hop: h.Hop.String(), Count: uint64(h.Count),
			P50Seconds: h.P50.Seconds(), P90Seconds: h.P90.Seconds(), P99Seconds: h.P99.Seconds(), MaxSeconds: h.Max.Seconds()})
	}
	return out, nil
}

// TraceTail returns the tasks finished after after_ns (from now when 0), waiting up
// to wait_seconds for one; until_ns is where the next call starts.
func (s *Service) TraceTail(ctx context.Context, req *pb.TraceTailRequest) (*pb.TraceTailResponse, error) {
	wait := defaultTailWait
	if req.WaitSeconds > 0 {
		wait = min(time.Duration(req.WaitSeconds*float64(time.Second)), maxTailWait)
	}
	after := req.AfterNs
	if after == 0 {
		after = trace.Now()
	}
	f := traceFilter(req.Filter)
	deadline := time.Now().Add(wait)
	for {
		tls, until := s.tracer.Since(after, f)
		if len(tls) > 0 {
			return &pb.TraceTailResponse{Tasks: timelines(tls), UntilNs: until}, nil
		}
		if !time.Now().Before(deadline) {
			return &pb.TraceTailResponse{UntilNs: after}, nil
		}
		select {
		case <-ctx.Done():
			return &pb.TraceTailResponse{UntilNs: after}, nil
		case <-time.After(tailPoll):
		}
	}
}

// orN is a query's task count, defaultTraceTasks when unset.
func orN(n uint32) int {
	if n == 0 {
		return defaultTraceTasks
	}
	return int(n)
}

// traceFilter is the filter a request names (nil: every task).
func traceFilter(m *pb.TraceFilter) trace.Filter {
	f := trace.Any
	if m == nil {
		return f
	}
	f.Target, f.Initiator = m.Target, m.Initiator
	if m.HasLun {
		f.LUN = int64(m.Lun)
	}
	if m.HasOpcode {
		f.Opcode = int(m.Opcode & 0xff)
	}
	return f
}

// filterMsg is the inverse of traceFilter.
func filterMsg(f trace.Filter) *pb.TraceFilter {
	m := &pb.TraceFilter{Target: f.Target, Initiator: f.Initiator}
	if f.LUN >= 0 {
		m.Lun, m.HasLun = uint64(f.LUN), true
	}
	if f.Opcode >= 0 {
		m.Opcode, m.HasOpcode = uint32(f.Opcode), true
	}
	return m
}

// timelines converts finished tasks to their messages.
func timelines(tls []*trace.Timeline) []*pb.TraceTimeline {
	out := make([]*pb.TraceTimeline, 0, len(tls))
	for _, tl := range tls {
		out = append(out, TimelineMsg(tl))
	}
	return out
}

// TimelineMsg converts one finished task to its message; at level full each hop's
// message is protojson.
func TimelineMsg(tl *trace.Timeline) *pb.TraceTimeline {
	id := tl.ID
	m := &pb.TraceTimeline{Initiator: id.Initiator, Target: id.Target, Isid: fmt.Sprintf("%x", id.ISID[:]), Tsih: uint32(id.TSIH),
		Itt: id.ITT, Cmdsn: id.CmdSN, Lun: id.LUN, Opcode: uint32(id.Opcode), Status: uint32(tl.Status),
		Sense: fmt.Sprintf("%x", tl.Sense), Bad: tl.Bad, Dropped: uint32(tl.Dropped)}
	for _, e := range tl.Events {
		h := &pb.TraceHop{Hop: e.Hop.String(), Actor: e.Actor, ActorId: e.ActorID, Message: e.Message, TNs: e.TNs,
			Bytes: e.Bytes, Result: e.Result, Detail: e.Detail}
		if e.Msg != nil {
			if b, err := protojson.Marshal(e.Msg); err == nil {
				h.MsgJson = string(b)
			}
		}
		m.Hops = append(m.Hops, h)
	}
	return m
}
