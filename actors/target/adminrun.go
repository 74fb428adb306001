package target

import (
	"context"
	"runtime/debug"

	"github.com/atgt/atgt/actors/admin"
)

// A change runs on its own goroutine under the service's change context, not its
// caller's: a removal that has retired a LUN must finish (or be undone) whatever the
// caller does, or the LUN would be left listed but refusing every command. The caller
// waits for the outcome as long as its context lets it; one that stops waiting hears
// that the change goes on. Shutdown ends the change context and waits for the change
// in progress (which then undoes what it can), so that the stop and a change never
// touch the service's lists together.

// run takes the change lock (or gives up when ctx ends first), then runs f under the
// change context and answers its outcome, or that it is still in progress once ctx
// ends.
func (s *Service) run(ctx context.Context, f func(context.Context) (*plan, error)) (*plan, error) {
	select {
	case s.admin.lock <- struct{}{}:
	case <-ctx.Done():
		return nil, admin.Busy("another change is in progress; gave up waiting for it: %v (nothing was applied)", ctx.Err())
	}
	if s.admin.stopping {
		<-s.admin.lock
		return nil, admin.Busy("the target is stopping")
	}
	type outcome struct {
		p   *plan
		err error
	}
	ch := make(chan outcome, 1)
	go func() {
		defer func() { <-s.admin.lock }()
		defer func() {
			if p := recover(); p != nil {
				s.log.Error("admin change panicked", "panic", p, "stack", string(debug.Stack()))
				ch <- outcome{err: admin.Internal("admin change: %v", p)}
			}
		}()
		p, err := f(s.admin.ctx)
		if err != nil && ctx.Err() != nil {
			s.log.Error("admin change failed after its caller stopped waiting", "error", err)
		}
		ch <- outcome{p, err}
	}()
	select {
	case o := <-ch:
		return o.p, o.err
	case <-ctx.Done():
		return nil, admin.Internal("the change is still in progress and finishes on its own "+
			"(the caller stopped waiting: %v); see `atgtctl luns` and `atgtctl config show`", ctx.Err())
	}
}

// stopChanges ends the change in progress (its waits end, and it undoes what it can),
// waits for it, and refuses every later change; Shutdown and Stop call it first.
func (s *Service) stopChanges() {
	if s.admin.lock == nil { // a service that never started
		return
	}
	s.admin.cancel()
	s.admin.lock <- struct{}{}
	s.admin.stopping = true
	<-s.admin.lock
}

// edit runs f holding the read guard for writing: f changes what the reads see.
func (s *Service) edit(f func()) {
	s.admin.mu.Lock()
	defer s.admin.mu.Unlock()
	f()
}

// partly is the error of a change that failed after a step it cannot undo: what was
// done is served and saved, and the error says so.
func partly(err error, done string) error {
	return admin.Internal("%v; partly applied: %s (served and saved as such)", err, done)
}
