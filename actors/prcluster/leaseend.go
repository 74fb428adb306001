package prcluster

import "time"

// LeaseEnd is when this node's lease on the shared state runs out (lease.go):
// StaleAfter after the last good reread was sent, on the monotonic clock, and
// the bound itself. The lease timer puts the node in doubt then, but a timer
// fires late after the process was paused (SIGSTOP, a frozen VM), racing the
// commands that were waiting; a LUN compares LeaseEnd with the clock itself
// before it admits or starts a command.
func (s *Store) LeaseEnd() (end time.Time, stale time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lease.confirmed.Add(s.lease.stale), s.lease.stale
}
