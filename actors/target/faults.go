package target

import (
	"time"

	"github.com/atgt/atgt/backend/faults"
	pb "github.com/atgt/atgt/messages/atgtv1"
)

// lunFaults converts a validated LUN's configured faults; an unset probability is
// 1 (always), as the config documents.
func lunFaults(in []*pb.Fault) []faults.Fault {
	out := make([]faults.Fault, 0, len(in))
	for _, f := range in {
		op, _ := faults.ParseOp(f.Op)
		kind, _ := faults.ParseKind(f.Kind)
		p := 1.0
		if f.Probability != nil {
			p = *f.Probability
		}
		out = append(out, faults.Fault{Op: op, Kind: kind, Probability: p,
			Delay: time.Duration(f.DelayMs) * time.Millisecond, Offset: int64(f.Offset), Length: int64(f.Length),
			Count: f.Count})
	}
	return out
}

// releaseFaults clears every LUN's faults, so that no IO worker stays held by a hang
// while the actors stop.
func (s *Service) releaseFaults() {
	if s.faultsReleased {
		return
	}
	s.faultsReleased = true
	for _, l := range s.luns {
		if l.Faults != nil {
			if fired := l.Faults.FiredByKind(); len(fired) > 0 {
				// A LUN configured to misbehave says, once, how often it did.
				args := []any{"target", l.Target, "lun", l.ID}
				for k, n := range fired {
					args = append(args, k.String(), n)
				}
				s.log.Warn("injected faults fired", args...)
			}
			l.Faults.Clear()
		}
	}
}
