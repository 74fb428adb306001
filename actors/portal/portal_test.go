package portal

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/go-hclog"

	"github.com/atgt/atgt/actors/session"
	"github.com/atgt/atgt/actors/supervise"
)

// fakeListener hands out the connections sent on conns; a nil one makes Accept panic.
// It records how many Accept calls run at once.
type fakeListener struct {
	conns        chan net.Conn
	closed       chan struct{}
	once         sync.Once
	active, most atomic.Int32
}

func newFakeListener() *fakeListener {
	return &fakeListener{conns: make(chan net.Conn), closed: make(chan struct{})}
}

func (l *fakeListener) Accept() (net.Conn, error) {
	n := l.active.Add(1)
	defer l.active.Add(-1)
	for {
		if m := l.most.Load(); n <= m || l.most.CompareAndSwap(m, n) {
			break
		}
	}
	select {
	case c := <-l.conns:
		if c == nil {
			panic("accept failed in a way nobody expected")
		}
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *fakeListener) Close() error   { l.once.Do(func() { close(l.closed) }); return nil }
func (l *fakeListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 3260} }

// TestListenerRecovers: an accept loop that panics is started again by the listener's
// restart, a listener actor that fails keeps its one loop, and connections are
// accepted throughout.
func TestListenerRecovers(t *testing.T) {
	sys := actor.NewActorSystem()
	defer sys.Shutdown()
	accepted := make(chan net.Conn, 4)
	manager := sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if a, ok := ctx.Message().(*session.Accepted); ok {
			accepted <- a.Conn
		}
	}))
	l := newFakeListener()
	defer l.Close()
	restart := actor.NewOneForOneStrategy(10, time.Minute, func(any) actor.Directive { return actor.RestartDirective })
	pidCh := make(chan *actor.PID, 1)
	sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if _, ok := ctx.Message().(*actor.Started); ok {
			pidCh <- ctx.Spawn(Props(l, manager, hclog.NewNullLogger(), Options{}))
		}
	}, actor.WithSupervisor(restart)))
	pid := <-pidCh

	connect := func(what string) {
		t.Helper()
		a, b := net.Pipe()
		defer b.Close()
		select {
		case l.conns <- a:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: nobody accepts", what)
		}
		select {
		case c := <-accepted:
			if c != a {
				t.Fatalf("%s: the manager got another connection", what)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: the manager got no connection", what)
		}
	}
	connect("first connection")
	l.conns <- nil // the accept loop panics
	connect("after the accept loop panicked")
	sys.Root.Send(pid, &supervise.Crash{Reason: "test"})
	time.Sleep(50 * time.Millisecond) // let the restart happen
	connect("after the listener actor failed")
	if m := l.most.Load(); m != 1 {
		t.Fatalf("%d accept loops ran at once, want 1", m)
	}
}
