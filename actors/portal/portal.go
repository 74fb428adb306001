// Package portal holds the portal listener actor: one per listening address, it
// accepts TCP connections and hands them to the session manager.
package portal

import (
	"errors"
	"fmt"
	"net"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/go-hclog"

	"github.com/atgt/atgt/actors/limit"
	"github.com/atgt/atgt/actors/sched"
	"github.com/atgt/atgt/actors/session"
	"github.com/atgt/atgt/actors/supervise"
)

// Options are a listener's admission settings.
type Options struct {
	// Limits, if not nil, admits each accepted connection (connections per portal
	// and per source address, failed logins): a connection it refuses is closed at
	// once.
	Limits *limit.Portal
	// LoginTimeout, if not 0, has the listener hold each accepted TCP connection
	// until its first whole PDU header has arrived (await.go: no goroutine, no
	// buffer), and close it if none comes within LoginTimeout of the accept. Only
	// then does the connection get its session and connection actors.
	LoginTimeout time.Duration
}

// Props returns the props of a listener actor serving l. The listener is opened by
// the caller so that a bad address fails the daemon's start, not an actor. Its
// supervisor (the root) restarts it on failure: a restarted listener keeps the socket
// and its accept loop, or starts the loop again if the loop is what failed.
func Props(l net.Listener, manager *actor.PID, log hclog.Logger, opts Options) *actor.Props {
	loop := new(atomic.Bool)
	hold := new(holding)
	return actor.PropsFromProducer(func() actor.Actor {
		return &listener{l: l, manager: manager, log: log.With("portal", l.Addr().String()), loop: loop,
			limits: opts.Limits, loginTimeout: opts.LoginTimeout, hold: hold}
	}, actor.WithDispatcher(sched.Default))
}

type listener struct {
	l       net.Listener
	manager *actor.PID
	log     hclog.Logger
	// loop is set while an accept loop runs: one per listener, not one per
	// incarnation of the actor.
	loop         *atomic.Bool
	limits       *limit.Portal
	loginTimeout time.Duration
	// hold keeps the connections waiting for their first header; one per
	// listener, not one per incarnation.
	hold *holding
}

// holding is a listener's holder, started once.
type holding struct {
	once sync.Once
	h    *holder
}

// acceptFailed tells the actor that its accept loop panicked; the actor fails with
// it, so that its supervisor restarts it and the restart starts a new loop.
type acceptFailed struct{ err error }

// Receive starts the accept loop and closes the socket when the actor stops.
func (p *listener) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		p.hold.once.Do(func() {
			if p.loginTimeout > 0 {
				root := ctx.ActorSystem().Root
				p.hold.h = newHolder(p.log, p.loginTimeout, func(c net.Conn, at time.Time) {
					root.Send(p.manager, &session.Accepted{Conn: c, At: at})
				}, p.timedOut)
			}
		})
		if p.loop.CompareAndSwap(false, true) {
			go p.accept(ctx.ActorSystem().Root, ctx.Self())
		}
	case *acceptFailed:
		panic(m.err)
	case *supervise.Crash:
		m.Panic()
	case *actor.Stopping:
		p.l.Close()
		if p.hold.h != nil {
			p.hold.h.stop()
		}
	}
}

// timedOut closes a held connection that sent no whole header within the login
// timeout: a failed login.
func (p *listener) timedOut(c net.Conn) {
	p.log.Info("login timeout before a first header; closing connection", "remote", c.RemoteAddr().String(),
		"timeout", p.loginTimeout)
	if p.limits != nil {
		p.limits.LoginFailed(c.RemoteAddr())
	}
	c.Close()
}

// accept hands every accepted connection to the session manager until the socket is
// closed. A panic ends the loop and is reported to the actor; the connection in hand,
// if any, is closed, so that its initiator logs in again.
func (p *listener) accept(root *actor.RootContext, self *actor.PID) {
	var inHand net.Conn
	defer func() {
		if r := recover(); r != nil {
			if inHand != nil {
				inHand.Close()
			}
			err := fmt.Errorf("accept loop panicked: %v", r)
			p.log.Warn("accept loop panicked; the listener restarts", "reason", fmt.Sprint(r), "stack", string(debug.Stack()))
			p.loop.Store(false)
			root.Send(self, &acceptFailed{err: err})
		}
	}()
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
		inHand = c
		if p.limits != nil {
			release, refused := p.limits.Admit(c.RemoteAddr())
			if refused != "" {
				c.Close()
				inHand = nil
				continue
			}
			c = track(c, release)
			inHand = c
		}
		if tc, ok := c.(interface {
			SetNoDelay(bool) error
			SetKeepAlive(bool) error
		}); ok {
			tc.SetNoDelay(true)
			tc.SetKeepAlive(true)
		}
		at := time.Now()
		if h := p.hold.h; h != nil {
			if held, stopped := h.add(c, at); held || stopped {
				inHand = nil
				continue
			}
		}
		root.Send(p.manager, &session.Accepted{Conn: c, At: at})
		inHand = nil
	}
}

// tcpConn is an admitted TCP connection that gives its place back to the limits
// when it is closed. It embeds *net.TCPConn, so that it keeps every method of one,
// the unexported one through which net.Buffers are sent with a single writev
// included, and SyscallConn.
type tcpConn struct {
	*net.TCPConn
	once    sync.Once
	release func()
}

// Close closes the socket and gives its place back, once.
func (c *tcpConn) Close() error {
	err := c.TCPConn.Close()
	c.once.Do(c.release)
	return err
}

// otherConn is tcpConn for a connection that is not TCP (tests).
type otherConn struct {
	net.Conn
	once    sync.Once
	release func()
}

// Close closes the connection and gives its place back, once.
func (c *otherConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// track wraps c so that closing it calls release once.
func track(c net.Conn, release func()) net.Conn {
	if tc, ok := c.(*net.TCPConn); ok {
		return &tcpConn{TCPConn: tc, release: release}
	}
	return &otherConn{Conn: c, release: release}
}
