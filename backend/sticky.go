package backend

import "sync"

// stickyErr keeps the first durability error for good. Linux reports a
// writeback error to a file descriptor only once (errseq_t): after a failed
// fdatasync the next one may succeed although the data is lost, so a
// backend that has seen one must keep failing Sync to stay honest.
type stickyErr struct {
	mu  sync.Mutex
	err error
}

// get returns the recorded error, if any.
func (s *stickyErr) get() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// set records err if none was recorded yet and returns the recorded one.
func (s *stickyErr) set(err error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		s.err = err
	}
	return s.err
}
