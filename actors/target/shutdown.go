package target

import (
	"errors"
	"fmt"
	"sync"
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
//  4. it flushes every LUN (fdatasync), all at once, so that even plain writes
//     acknowledged under WCE=1 are on stable storage when the process ends; it
//     waits at most FinalFlushTimeout for them (a store whose fdatasync hangs, such
//     as a multipath volume queueing with no path, or a hard NFS mount whose server
//     is gone, must not hold the stop for ever nor keep the others from flushing).
//     A backend whose flush has not returned is closed once it does.
//
// It returns the errors joined: a tree that did not stop, and each LUN that could
// not be flushed or whose flush did not finish in time (named). ShutdownLimit is
// how long it may take. Like Stop, it waits for a stop in progress, and after the service
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
	flushing, ferr := s.flushAll(served, s.flushTimeout)
	err = errors.Join(err, ferr)
	if flushing != nil { // a flush still runs: its backend is closed once it returns
		running = bothDone(running, flushing)
	}
	s.edit(func() {
		s.closeResources(running)
		s.shutdownSystem()
	})
	s.tracer.Close()
	return err
}

// FinalFlushTimeout bounds the flush of every LUN at the end of Shutdown: the LUNs
// are flushed in parallel, and those not flushed by then are named in its error.
const FinalFlushTimeout = 30 * time.Second

// ShutdownLimit is the longest Shutdown(grace) takes once an admin change in
// progress has ended: the wait for the initiators to log out (grace, and a last
// poll of at most a second), the stop of the actor tree (at most grace + 10 s), and
// the final flush (FinalFlushTimeout), with a second to close. A service manager's
// stop timeout (systemd's TimeoutStopSec) should be at least this; atgtd asks
// systemd for it when it stops (EXTEND_TIMEOUT_USEC).
func ShutdownLimit(grace time.Duration) time.Duration {
	return 2*grace + time.Second + 10*time.Second + FinalFlushTimeout + time.Second
}

// flushAll flushes the served LUNs in parallel and waits at most timeout for them.
// It returns, when one has not finished, a channel closed once every flush has
// returned, and their errors, one naming each LUN that failed or did not finish.
func (s *Service) flushAll(served []servedLUN, timeout time.Duration) (<-chan struct{}, error) {
	if len(served) == 0 {
		return nil, nil
	}
	errs := make([]error, len(served))
	finished := make([]bool, len(served))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i, sl := range served {
		wg.Add(1)
		go func() {
			defer wg.Done()
			serr := sl.b.Sync()
			mu.Lock()
			defer mu.Unlock()
			errs[i], finished[i] = serr, true
		}()
	}
	all := make(chan struct{})
	go func() { wg.Wait(); close(all) }()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	timedOut := false
	select {
	case <-all:
	case <-timer.C:
		timedOut = true
	}
	mu.Lock()
	defer mu.Unlock()
	var err error
	for i, sl := range served {
		switch {
		case !finished[i]:
			s.log.Error("flush at stop did not finish in time: writes acknowledged under write-back may not be stable",
				"target", sl.target, "lun", sl.id, "timeout", timeout)
			err = errors.Join(err, fmt.Errorf("target %s LUN %d: flush did not finish within %v", sl.target, sl.id, timeout))
		case errs[i] != nil:
			s.log.Error("flush at stop failed", "target", sl.target, "lun", sl.id, "error", errs[i])
			err = errors.Join(err, fmt.Errorf("target %s LUN %d: flush: %w", sl.target, sl.id, errs[i]))
		}
	}
	if timedOut {
		return all, err
	}
	return nil, err
}

// bothDone is a channel closed once a (nil: already) and b are both closed.
func bothDone(a, b <-chan struct{}) <-chan struct{} {
	if a == nil {
		return b
	}
	c := make(chan struct{})
	go func() { <-a; <-b; close(c) }()
	return c
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
