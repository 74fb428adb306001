package conn

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/atgt/atgt/actors/sched"
)

// The connection's silence timer. The login phase ends a login that is not done
// within LoginTimeout, and the command phase pings an initiator that has been
// silent for NopInterval and drops one that stays silent NopTimeout after the
// ping (cmdphase.Machine.Tick): both need to hear when the actor has received
// nothing for a while. protoactor's ReceiveTimeout is such a timer, but its
// timer function cancels the timeout in the actor's context from the timer's own
// goroutine, racing with the actor's turn (the race detector reported it, failing
// a test under -race), and it stops and restarts a Go timer on every message the
// actor receives. Here a turn only notes when the actor last received something
// (a clock read, and only while the timer is set); one timer runs to the
// deadline, and when it sends its check the actor either finds a message came
// since, and sleeps for the rest, or reports the silence once, as protoactor's
// timeout does: the actor sets the timer again for what it waits for next.

// silence is the connection's silence timer.
type silence struct {
	// d is the silence to report; 0: the timer is off.
	d time.Duration
	// last is when the actor last received a message (or the timer was set).
	last time.Time
	// timer sends silenceCheck; gen tells its checks from those of a timer set
	// earlier (a setting replaces the one before it).
	timer *time.Timer
	gen   uint64
}

// silenceCheck is the silence timer's message: check whether the actor has been
// silent long enough.
type silenceCheck struct{ gen uint64 }

// setSilence has silent report d without a message from now on (0: never),
// replacing any earlier setting.
func (c *connActor) setSilence(ctx actor.Context, d time.Duration) {
	s := &c.quiet
	s.gen++
	s.d, s.last = d, time.Now()
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	if d > 0 {
		c.armSilence(ctx, d)
	}
}

// armSilence has the current setting's check sent after after.
func (c *connActor) armSilence(ctx actor.Context, after time.Duration) {
	c.quiet.timer = sched.SendAfter(ctx, after, &silenceCheck{gen: c.quiet.gen})
}

// heard notes that the actor received a message (not its own check).
func (c *connActor) heard() {
	if c.quiet.d > 0 {
		c.quiet.last = time.Now()
	}
}

// silent reports whether check finds the actor silent for the whole setting; the
// timer is then off until set again. If a message came meanwhile, it checks again
// when the silence since would be long enough.
func (c *connActor) silent(ctx actor.Context, check *silenceCheck) bool {
	s := &c.quiet
	if check.gen != s.gen || s.d <= 0 {
		return false // a check of an earlier setting
	}
	if rest := s.d - time.Since(s.last); rest > 0 {
		c.armSilence(ctx, rest)
		return false
	}
	s.d, s.timer = 0, nil
	return true
}

// stopSilence stops the timer as the actor stops.
func (c *connActor) stopSilence() {
	if c.quiet.timer != nil {
		c.quiet.timer.Stop()
		c.quiet.timer = nil
	}
	c.quiet.d = 0
}
