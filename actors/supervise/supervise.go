// Package supervise holds what the actor tree's supervisors share: Crash, the message
// that makes an actor fail on purpose so that a test can show what its supervisor
// does, and Guard, which keeps a supervisor's own clean-up from failing it.
package supervise

import (
	"fmt"

	"github.com/hashicorp/go-hclog"
)

// Crash makes the actor that receives it panic with Reason. The dispatcher, the
// session manager, sessions, connections and portal listeners obey it, so that their
// supervision can be exercised without a real bug (tests, and the fault injection
// that issue 12 plans).
type Crash struct{ Reason string }

// Panic panics with the crash's reason; an actor calls it in its Receive.
func (c *Crash) Panic() { panic(fmt.Sprintf("crash: %s", c.Reason)) }

// Guard runs f, the clean-up a strategy does for a failed child (answering the message
// it failed on, closing a socket), and logs a panic in f instead of passing it on: a
// strategy runs in the parent's mailbox, and a panic there would fail the parent too.
func Guard(log hclog.Logger, what string, f func()) {
	defer func() {
		if r := recover(); r != nil {
			log.Error("supervisor clean-up failed", "what", what, "reason", fmt.Sprint(r))
		}
	}()
	f()
}
