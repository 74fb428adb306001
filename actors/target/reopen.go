package target

import (
	"github.com/atgt/atgt/actors/lun"
	"github.com/atgt/atgt/actors/session"
	"github.com/atgt/atgt/backend"
)

// reopenOf is the way back of a LUN whose store the cluster may fence off (an RBD
// image: this node's client blocklisted), nil for other stores: the LUN ends every
// session of its target on this node, so that commands sent before the fence and
// still unread on their connections are dropped with them, then reopens the store
// (actors/lun reopen.go).
func (s *Service) reopenOf(raw backend.Backend, target string) *lun.Reopen {
	f, ok := raw.(backend.Fenceable)
	if !ok {
		return nil
	}
	return &lun.Reopen{Backend: f, EndSessions: func(done func()) {
		mgr := s.sessionManager()
		if mgr == nil {
			done()
			return
		}
		// Closed at once: a grace period would let the connections be read.
		s.system.Root.Send(mgr, &session.Logout{Target: target, Done: func(int, int) { done() }})
	}}
}
