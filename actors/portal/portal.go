// Package portal holds the portal listener actor: one per listening address, it
// accepts TCP connections and hands them to the session manager.
package portal

import (
	"errors"
	"net"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/go-hclog"

	"github.com/atgt/atgt/actors/sched"
	"github.com/atgt/atgt/actors/session"
)

// Props returns the props of a listener actor serving l. The listener is opened by
// the caller so that a bad address fails the daemon's start, not an actor. A
// restarted listener actor keeps the socket and its one accept loop.
func Props(l net.Listener, manager *actor.PID, log hclog.Logger) *actor.Props {
	loop := new(sync.Once)
	return actor.PropsFromProducer(func() actor.Actor { return &listener{l: l, manager: manager, log: log, loop: loop} }, actor.WithDispatcher(sched.Default))
}

type listener struct {
	l       net.Listener
	manager *actor.PID
	log     hclog.Logger
	loop    *sync.Once // starts the accept loop once, not once per incarnation
}

// Receive starts the accept loop and closes the socket when the actor stops.
func (p *listener) Receive(ctx actor.Context) {
	switch ctx.Message().(type) {
	case *actor.Started:
		root := ctx.ActorSystem().Root
		p.loop.Do(func() { go p.accept(root) })
	case *actor.Stopping:
		p.l.Close()
	}
}

func (p *listener) accept(root *actor.RootContext) {
	delay := 5 * time.Millisecond
	for {
		c, err := p.l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: back off instead of spinning.
			p.log.Warn("accept failed", "error", err)
			time.Sleep(delay)
			delay = min(2*delay, time.Second)
			continue
		}
		delay = 5 * time.Millisecond
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetNoDelay(true)
			tc.SetKeepAlive(true)
		}
		root.Send(p.manager, &session.Accepted{Conn: c})
	}
}
