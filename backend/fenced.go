package backend

import (
	"errors"
	"fmt"
	"syscall"
	"time"
)

// Fenceable is a shared backend that the cluster under it can fence this node off
// from (RBD: the node's RADOS client blocklisted, as librbd does to a lock owner that
// stopped answering when another gateway breaks its exclusive lock), and that can
// open itself anew on a new client, which the fence does not cover.
//
// The order of events matters for the data: a write this node held when it was fenced
// must never land after writes another node made since. So the backend never retries
// a call that was in flight on the fenced client (it fails, and librbd's own queued
// writes are failed at once rather than left hanging), every call made while fenced
// fails with ErrFenced without reaching the cluster, and the new client is opened only
// when the owner calls Reconnect, after it has made sure that nothing it admitted
// before the fence can still reach the backend (actors/lun: sessions ended, workers
// drained).
type Fenceable interface {
	// OnFenced sets the function told, from a backend goroutine, when the backend
	// finds itself fenced; cause says how (for the log). Without one the backend
	// reconnects by itself.
	OnFenced(f func(cause error))
	// Reconnect opens a new client and the store on it, retrying with backoff while
	// the cluster cannot be reached, until it succeeds, stop is closed or the backend
	// is closed (then an error). It blocks; calls succeed again once it returns nil.
	// failed, if not nil, hears each failed attempt and the pause before the next.
	Reconnect(stop <-chan struct{}, failed func(err error, next time.Duration)) error
}

// ErrFenced is the answer of every call on a fenced backend until Reconnect has
// opened it anew: the call never reached the store, so the command may be retried
// (the LUN answers NOT READY).
var ErrFenced = errors.New("backend fenced off by the cluster; reopening")

// fencedRead turns a read that failed with ESHUTDOWN into a fenced call. The OSDs
// refuse a blocklisted client's reads with ESHUTDOWN (EBLOCKLISTED) as soon as it is
// blocklisted, while librbd may take a while longer to know it (measured: 90 ms after
// a woken node's held writes failed so): such a read changed nothing and returned no
// data, so it is answered as a call on a fenced backend (NOT READY, which initiators
// retry) rather than a medium error, which fails the application's read. Failed
// writes stay failed (never retried: see Fenceable).
func fencedRead(err error) error {
	if err != nil && errors.Is(err, syscall.ESHUTDOWN) && !errors.Is(err, ErrFenced) {
		return fmt.Errorf("%w: %w", ErrFenced, err)
	}
	return err
}
