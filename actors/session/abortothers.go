package session

import (
	"slices"

	"github.com/asynkron/protoactor-go/actor"

	pb "github.com/atgt/atgt/messages/atgtv1"
)

// othersTold answers a session's abortOthers: the manager took it, and the session
// may send its next one.
type othersTold struct{}

var othersToldMsg = &othersTold{}

// tellOthers has the manager pass this nexus's TaskSetAborted to every other
// session, one at a time: while one waits for the manager, the ones that follow are
// merged (per target: the union of their logical units). The manager admits every
// login too, so one connection's stream of CLEAR TASK SETs or resets must not queue
// work there without bound (each fans out to every session): a session has at most
// one abortOthers with the manager, and the others learn each function once it is
// their turn, which they would anyway behind a queue. Merging loses nothing: an
// abort that reaches a session later covers at least the tasks an earlier one would
// have (AbortedByOther acts on what the session released up to then).
func (s *sessionActor) tellOthers(ctx actor.Context, m *pb.TaskSetAborted) {
	if !s.telling {
		s.telling = true
		ctx.Send(s.cfg.Manager, &abortOthers{m: m, from: ctx.Self()})
		return
	}
	for _, p := range s.untold {
		if p.Target == m.Target {
			mergeAborted(p, m)
			return
		}
	}
	s.untold = append(s.untold, m) // the connection sent it and no longer reads it
}

// toldOthers takes the manager's othersTold: the next merged abort goes.
func (s *sessionActor) toldOthers(ctx actor.Context) {
	s.telling = false
	if len(s.untold) > 0 {
		m := s.untold[0]
		s.untold = s.untold[1:]
		s.tellOthers(ctx, m)
	}
}

// flushOthers sends every merged abort without waiting, when the session ends or
// before a TARGET COLD RESET goes to the manager (which must see this nexus's
// aborts first).
func (s *sessionActor) flushOthers(ctx actor.Context) {
	for _, m := range s.untold {
		ctx.Send(s.cfg.Manager, &abortOthers{m: m, from: ctx.Self()})
	}
	s.untold = nil
}

// mergeAborted adds m's logical units to p (not yet sent, so not shared).
func mergeAborted(p, m *pb.TaskSetAborted) {
	if p.AllLuns || m.AllLuns {
		p.AllLuns, p.Luns = true, nil
		return
	}
	for _, l := range m.Luns {
		if !slices.Contains(p.Luns, l) {
			p.Luns = append(p.Luns, l)
		}
	}
}
