package sched

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// SendAfter sends msg to the actor of ctx after d, from a timer that holds only the
// actor's address: ctx.Self() caches its process, through which a timer that has not
// run would keep a stopped actor (its state, its children's) reachable until it
// does. The actor stops the returned timer when it stops.
func SendAfter(ctx actor.Context, d time.Duration, msg any) *time.Timer {
	root, addr, id := ctx.ActorSystem().Root, ctx.Self().Address, ctx.Self().Id
	return time.AfterFunc(d, func() { root.Send(actor.NewPID(addr, id), msg) })
}
