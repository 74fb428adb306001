package conn

import (
	"errors"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/go-hclog"

	"github.com/atgt/atgt/actors/cmdsn"
	"github.com/atgt/atgt/actors/logging"
	"github.com/atgt/atgt/actors/login"
	"github.com/atgt/atgt/actors/trace"
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/iscsi"
	"github.com/atgt/atgt/tests/initiator"
)

// panicConn is a socket whose Read or Write panics once armed, as a bug in a codec
// would panic in the reader or writer goroutine.
type panicConn struct {
	net.Conn
	onRead, onWrite atomic.Bool
}

func (c *panicConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if c.onRead.Load() {
		panic("reader bug")
	}
	return n, err
}

func (c *panicConn) Write(b []byte) (int, error) {
	if c.onWrite.Load() {
		panic("writer bug")
	}
	return c.Conn.Write(b)
}

// quietSystem is an actor system that logs nothing.
func quietSystem() *actor.ActorSystem {
	return actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return logging.NewSlog(hclog.NewNullLogger())
	}))
}

// TestReaderPanic: a panic in the reader goroutine reaches the actor as a read
// failure that names it.
func TestReaderPanic(t *testing.T) {
	sys := quietSystem()
	defer sys.Shutdown()
	got := make(chan any, 1)
	self := sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if m, ok := ctx.Message().(*readFailed); ok {
			got <- m
		}
	}))
	a, b := net.Pipe()
	defer b.Close()
	pc := &panicConn{Conn: a}
	pc.onRead.Store(true)
	go b.Write(make([]byte, iscsi.BHSLength))
	done := make(chan struct{})
	go func() {
		readLoop(pc, sys.Root, self, make(chan readerStep, 1), newFlow(), 4096, new(atomic.Pointer[trace.Conn]), 0, nil)
		close(done)
	}()
	select {
	case m := <-got:
		var pe *panicError
		if !errors.As(m.(*readFailed).err, &pe) || pe.where != "reader" || pe.stack == "" {
			t.Fatalf("read failure %v, want the reader's panic", m.(*readFailed).err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no read failure")
	}
	<-done
}

// TestWriterPanic: a panic in the writer goroutine reaches the actor as a write
// failure and closes the socket; batches queued after it are dropped, never blocking
// the actor.
func TestWriterPanic(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	pc := &panicConn{Conn: a}
	pc.onWrite.Store(true)
	errs := make(chan error, 1)
	fl := newFlow()
	w := newWriter(pc, time.Second, fl, func(err error) { errs <- err })
	w.send(outBatch{pdus: []*iscsi.PDU{{}}})
	var pe *panicError
	if err := <-errs; !errors.As(err, &pe) || pe.where != "writer" {
		t.Fatalf("write failure %v, want the writer's panic", err)
	}
	<-fl.done
	for range 3 {
		w.send(outBatch{pdus: []*iscsi.PDU{{}}}) // dropped, never blocks
	}
	w.end(time.Now().Add(time.Second))
	if _, err := b.Read(make([]byte, 1)); err == nil {
		t.Fatal("the socket is still open")
	}
}

// harness runs one connection actor over a real socket wrapped in a panicConn, under a
// parent that reports what the connection tells its session; NexusLoss messages sent
// to the dispatcher arrive on nexus.
type harness struct {
	pc                    *panicConn
	addr                  string
	nexus, logout, exited chan any
}

const harnessTarget = "iqn.2026-11.dev.atgt:conn"

func newHarness(t *testing.T) *harness {
	sys := quietSystem()
	t.Cleanup(sys.Shutdown)
	h := &harness{nexus: make(chan any, 4), logout: make(chan any, 4), exited: make(chan any, 4)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	h.addr = ln.Addr().String()
	dispatcher := sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if m, ok := ctx.Message().(*pb.NexusLoss); ok {
			h.nexus <- m
		}
	}))
	stop := actor.NewOneForOneStrategy(0, 0, func(any) actor.Directive { return actor.StopDirective })
	accepted := make(chan *panicConn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- &panicConn{Conn: c}
		}
	}()
	go func() {
		pc := <-accepted
		h.pc = pc
		cfg := Config{
			Conn: pc,
			Login: login.Config{Limits: login.DefaultLimits(), Lookup: func(name string) (login.TargetInfo, bool) {
				return login.TargetInfo{Name: harnessTarget, PortalGroupTag: 1}, name == harnessTarget
			}},
			Dispatcher: dispatcher, QueueDepth: 16, Log: hclog.NewNullLogger(),
		}
		// The parent plays the session: it orders commands by CmdSN.
		window := cmdsn.NewWindow(0, cfg.QueueDepth)
		var conn *actor.PID
		reply := func(ctx actor.Context, o *pb.CommandOrder, dropped bool) {
			ctx.Send(conn, &pb.CommandReady{Itt: o.Itt, Task: o.Task, Dropped: dropped, ExpCmdSn: window.Exp()})
		}
		sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
			switch m := ctx.Message().(type) {
			case *actor.Started:
				conn = ctx.Spawn(Props(cfg))
			case *LoginComplete:
				window.Start(m.FirstCmdSN)
				ctx.Send(conn, &Admit{})
			case *pb.CommandOrder:
				ready, ok := window.Accept(m)
				if !ok {
					reply(ctx, m, true)
				}
				for _, r := range ready {
					reply(ctx, r, false)
				}
			case *LogoutSession:
				h.logout <- m
			case *actor.Terminated:
				h.exited <- m
			}
		}, actor.WithSupervisor(stop)))
	}()
	return h
}

// expect waits for a message on ch.
func expect(t *testing.T, ch chan any, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatalf("no %s within 5s", what)
	}
}

// TestGoroutinePanicEndsOnlyTheConnection: after login, a panic in the connection's
// reader or writer ends that connection as a closed socket does: the LUNs are told the
// nexus is lost, the session is told the connection is over, the actor stops, and the
// process goes on.
func TestGoroutinePanicEndsOnlyTheConnection(t *testing.T) {
	for _, where := range []string{"reader", "writer"} {
		t.Run(where, func(t *testing.T) {
			h := newHarness(t)
			s, err := initiator.Dial(h.addr, initiator.Options{InitiatorName: "iqn.2026-11.dev.atgt:i", TargetName: harnessTarget,
				Timeout: 2 * time.Second})
			if err != nil {
				t.Fatalf("login: %v", err)
			}
			defer s.Close()
			if err := s.Nop(nil); err != nil {
				t.Fatalf("NOP before the panic: %v", err)
			}
			if where == "reader" {
				h.pc.onRead.Store(true)
			} else {
				h.pc.onWrite.Store(true)
			}
			if err := s.Nop(nil); err == nil {
				t.Fatal("NOP answered after the panic")
			}
			expect(t, h.nexus, "NexusLoss")
			expect(t, h.logout, "LogoutSession")
			expect(t, h.exited, "stop of the connection actor")
		})
	}
}
