package target

import (
	"errors"
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/atgt/atgt/actors/session"
	"github.com/atgt/atgt/backend"
)

// servedLUN is a LUN's backend as its IO workers use it.
type servedLUN struct {
	target string
	id     uint64
	b      backend.Backend
}

// Grace is how long Shutdown waits for initiators to log out
// (shutdown_grace_seconds).
func (s *Service) Grace() time.Duration { return s.grace }

// Shutdown stops the service so that nothing an initiator was told is lost (an admin
// change in progress is ended first, and no change starts after):
//  1. it stops accepting connections;
//  2. it asks every session's initiator to log out (an Asynchronous Message,
//     AsyncEvent 1, RFC 7143 11.9.1) and waits up to grace for the sessions to end;
//  3. it stops the actor tree: the sessions still there end, and an IO worker's
//     call in progress completes (a stopping actor finishes its message); IO not
//     yet started belongs to sessions that are gone and is never answered;
//  4. it flushes every LUN (fdatasync), so that even plain writes acknowledged
//     under WCE=1 are on stable storage when the process ends.
//
// It returns the first error: a tree that did not stop, or a LUN that could not be
// flushed (named). Like Stop, it waits for a stop in progress, and after the service
// stopped does nothing and returns nil.
func (s *Service) Shutdown(grace time.Duration) error {
	s.stopMu.Lock()
	defer s.stopMu.Unlock()
	if s.stopped {
		return nil
	}
	s.stopped = true
	start := time.Now()
	s.stopChanges() // a change in progress ends (undone where it can be) first
	s.edit(func() {
		for _, l := range s.portals {
			l.Close()
		}
	})
	left := 0
	if sys, mgr := s.sessions(); mgr != nil {
		sys.Root.Send(mgr, &session.LogoutAll{Within: grace})
		left = s.waitSessions(mgr, start.Add(grace))
	}
	s.log.Info("stopping", "sessions_left", left, "waited", time.Since(start).Round(time.Millisecond))
	s.releaseFaults() // an injected hang must not hold the stop
	running, err := s.stopTree(grace + 10*time.Second)
	var served []servedLUN
	s.edit(func() { served, s.served = s.served, nil })
	for _, sl := range served {
		if serr := sl.b.Sync(); serr != nil {
			s.log.Error("flush at stop failed", "target", sl.target, "lun", sl.id, "error", serr)
			err = errors.Join(err, fmt.Errorf("target %s LUN %d: flush: %w", sl.target, sl.id, serr))
		}
	}
	s.edit(func() {
		s.closeResources(running)
		s.shutdownSystem()
	})
	s.tracer.Close()
	return err
}

// waitSessions polls the session manager until no session is left or the deadline
// passes, and returns how many were left.
func (s *Service) waitSessions(mgr *actor.PID, deadline time.Time) int {
	left := -1
	for {
		res, err := s.system.Root.RequestFuture(mgr, &session.CountSessions{}, time.Second).Result()
		if n, ok := res.(*session.Sessions); err == nil && ok {
			left = n.N
			if left == 0 {
				return 0
			}
		}
		if !time.Now().Before(deadline) {
			return left
		}
		time.Sleep(min(50*time.Millisecond, time.Until(deadline)))
	}
}
