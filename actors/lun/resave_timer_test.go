package lun

import (
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// TestStaleResaveRetrySetsNoSecondTimer: a failed re-save's retry timer is
// replaced (armResave) after it already ran, so its resaveRetry is in the
// mailbox, stale. Handled, that retry must not take the live timer for its own
// (the LUN then loses track of it): a LUN that stops afterwards stops only the
// timer it knows of, and the other one still wakes it, after it stopped, holding
// its PID until then, and each stale retry adds one more chain of timers.
func TestStaleResaveRetrySetsNoSecondTimer(t *testing.T) {
	old := resaveBackoff
	resaveBackoff = time.Hour
	t.Cleanup(func() { resaveBackoff = old })
	sys := actor.NewActorSystem()
	woken := make(chan struct{}, 16)
	probe := sys.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		if _, ok := c.Message().(*resaveRetry); ok {
			woken <- struct{}{}
		}
	}))
	defer sys.Root.Stop(probe)
	// No reservation table: the re-save cannot go (as while the LUN reopens its
	// backend), so each retry sets the timer again.
	l := &lunActor{self: probe}
	l.prLate = [][]byte{{1}}
	l.prResave.failures = 1
	sc := sys.Root
	l.armResave(sc, time.Hour) // a timer that runs...
	stale := &resaveRetry{gen: l.prResave.gen}
	l.armResave(sc, 100*time.Millisecond) // ...as the live one replaces it
	l.retryResave(sc, stale)              // its retry, handled now
	l.endResave(true)                     // the LUN stops
	select {
	case <-woken:
		t.Fatal("a retry timer woke the LUN after it stopped: the stale retry lost track of the live timer")
	case <-time.After(500 * time.Millisecond):
	}
}
