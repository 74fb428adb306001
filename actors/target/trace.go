package target

import (
	"github.com/atgt/atgt/actors/trace"
	pb "github.com/atgt/atgt/messages/atgtv1"
)

// startTracer makes the service's tracer from the config (after defaults) and the
// options: the level at start (Options.TraceLevel over trace_level), the rings'
// sizes and the sinks. Validate has checked the level names.
func (s *Service) startTracer(cfg *pb.Config) {
	name := cfg.TraceLevel
	if s.opts.TraceLevel != "" {
		name = s.opts.TraceLevel
	}
	level, _ := trace.ParseLevel(name)
	s.flightTasks = int(cfg.FlightRecorderTasks)
	s.tracer = trace.New(trace.Config{Level: level, Filter: trace.Any, RingTasks: int(cfg.TraceRingTasks),
		Sinks: s.opts.TraceSinks, SinkQueue: int(cfg.TraceSinkQueue), Log: s.log.Named("trace")})
}

// Tracer returns the service's tracer, to switch tracing or read traced tasks
// from an embedding program (the admin API's trace methods use it too).
func (s *Service) Tracer() *trace.Tracer { return s.tracer }
