package admintest

import (
	"context"

	pb "github.com/atgt/atgt/messages/atgtv1"
)

// The fake's trace methods answer with SampleTimeline, so that atgtctl's trace
// commands can be tested for what they print.

// SampleTimeline is a READ(16) of 4 KiB as a traced target reports it.
func SampleTimeline() *pb.TraceTimeline {
	hop := func(name, actor, id, msg string, t int64) *pb.TraceHop {
		return &pb.TraceHop{Hop: name, Actor: actor, ActorId: id, Message: msg, TNs: t}
	}
	return &pb.TraceTimeline{Initiator: "iqn.2026-11.dev.host:vm1", Target: "iqn.2026-11.dev.atgt:vm1", Isid: "400001370000",
		Tsih: 1, Itt: 0x10, Cmdsn: 42, Lun: 0, Opcode: 0x88, Hops: []*pb.TraceHop{
			hop("received", "reader", "$5/$6", "PDU", 1_000_000),
			hop("admitted", "conn", "$5/$6", "CommandOrder", 1_002_000),
			hop("ordered", "session", "$5", "CommandOrder", 1_004_000),
			hop("lun", "lun", "$3", "ScsiTask", 1_007_000),
			hop("checked", "lun", "$3", "", 1_008_000),
			hop("queued", "lun", "$3", "IoRequest", 1_009_000),
			hop("worker", "worker", "$3/$4", "IoRequest", 1_015_000),
			hop("backend.start", "worker", "$3/$4", "", 1_015_000),
			hop("backend.end", "worker", "$3/$4", "", 1_027_000),
			hop("completed", "worker", "$3/$4", "ScsiCompletion", 1_028_000),
			hop("response", "conn", "$5/$6", "ScsiCompletion", 1_033_000),
			hop("queuedout", "conn", "$5/$6", "PDU", 1_034_000),
			hop("written", "writer", "", "", 1_045_000),
		}}
}

// SetTraceLevel echoes the settings asked for.
func (f *Fake) SetTraceLevel(_ context.Context, req *pb.SetTraceLevelRequest) (*pb.SetTraceLevelResponse, error) {
	f.begin(req)
	defer f.mu.Unlock()
	return &pb.SetTraceLevelResponse{Level: req.Level, Filter: req.Filter}, nil
}

// TraceRecent answers the sample task.
func (f *Fake) TraceRecent(_ context.Context, req *pb.TraceRecentRequest) (*pb.TraceRecentResponse, error) {
	f.begin(req)
	defer f.mu.Unlock()
	return &pb.TraceRecentResponse{Tasks: []*pb.TraceTimeline{SampleTimeline()}}, nil
}

// TraceTask answers the sample task if its ITT is asked for.
func (f *Fake) TraceTask(_ context.Context, req *pb.TraceTaskRequest) (*pb.TraceTaskResponse, error) {
	f.begin(req)
	defer f.mu.Unlock()
	out := &pb.TraceTaskResponse{}
	if tl := SampleTimeline(); req.Itt == tl.Itt {
		out.Tasks = append(out.Tasks, tl)
	}
	return out, nil
}

// TraceSlow answers the sample task.
func (f *Fake) TraceSlow(_ context.Context, req *pb.TraceSlowRequest) (*pb.TraceSlowResponse, error) {
	f.begin(req)
	defer f.mu.Unlock()
	return &pb.TraceSlowResponse{Tasks: []*pb.TraceTimeline{SampleTimeline()}}, nil
}

// TraceStats answers fixed figures.
func (f *Fake) TraceStats(_ context.Context, req *pb.TraceStatsRequest) (*pb.TraceStatsResponse, error) {
	f.begin(req)
	defer f.mu.Unlock()
	return &pb.TraceStatsResponse{Level: "light", Tasks: 1, Finished: 1, Hops: []*pb.TraceHopStats{
		{Hop: "lun", Count: 1, P50Seconds: 3e-6, P90Seconds: 3e-6, P99Seconds: 3e-6, MaxSeconds: 3e-6}}}, nil
}

// TraceTail answers the sample task once, then nothing.
func (f *Fake) TraceTail(_ context.Context, req *pb.TraceTailRequest) (*pb.TraceTailResponse, error) {
	f.begin(req)
	defer f.mu.Unlock()
	tl := SampleTimeline()
	if req.AfterNs >= tl.Hops[len(tl.Hops)-1].TNs {
		return &pb.TraceTailResponse{UntilNs: req.AfterNs}, nil
	}
	return &pb.TraceTailResponse{Tasks: []*pb.TraceTimeline{tl}, UntilNs: tl.Hops[len(tl.Hops)-1].TNs}, nil
}
