package sched

import "github.com/asynkron/protoactor-go/actor"

// Probe lets an actor see whether more user messages wait in its own mailbox, so
// that it can hold work back while a burst is still arriving and act on it as one
// (the LUN merges adjacent IO, the connection sends a turn's PDUs in one batch).
// protoactor's context does not expose the mailbox; a Probe captures it as the
// props create it. One Probe serves one actor.
type Probe struct{ mb actor.Mailbox }

// Option is the props option that creates the actor's (unbounded) mailbox through p.
func (p *Probe) Option() actor.PropsOption {
	return actor.WithMailbox(func() actor.Mailbox {
		p.mb = actor.Unbounded()()
		return p.mb
	})
}

// Idle reports whether no user message waits in the mailbox (true before it exists).
// protoactor's mailbox pushes a message before it counts it, so the actor may take
// and handle a message whose count is not added yet: the count then reads below
// zero although nothing waits, and the sender's schedule finds the mailbox running,
// so no further turn comes. Only a count above zero means a message waits that this
// run of the mailbox will still hand over (it pops until the queue is empty).
func (p *Probe) Idle() bool {
	return p == nil || p.mb == nil || p.mb.UserMessageCount() <= 0
}
