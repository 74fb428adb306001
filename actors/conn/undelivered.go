package conn

import (
	"github.com/asynkron/protoactor-go/actor"

	"github.com/atgt/atgt/actors/bufpool"
	pb "github.com/atgt/atgt/messages/atgtv1"
)

// Undelivered takes the actor system's dead letters (subscribe it to its event
// stream): a completion that reaches a connection after it ended gives its pooled
// Data-In buffer back to the pool and lets go of it. The completion is an IO
// worker's slab record, which would otherwise keep the buffer, and the rest of
// its chunk's, reachable while the LUN is idle. It runs in the sender's goroutine,
// which gave the message up; nothing else holds it.
func Undelivered(evt any) {
	dl, ok := evt.(*actor.DeadLetterEvent)
	if !ok {
		return
	}
	if c, ok := dl.Message.(*pb.ScsiCompletion); ok && c.DataIn != nil {
		if c.Pooled {
			bufpool.Put(c.DataIn)
		}
		c.DataIn = nil
	}
}
