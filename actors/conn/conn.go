// Package conn holds the connection actor: one per TCP connection, it runs login,
// then turns PDUs into SCSI tasks for its session and task completions back into
// PDUs. A reader goroutine feeds it parsed PDUs and a writer goroutine sends what it
// builds, batched into few syscalls (the paper's three activities).
package conn

import (
	"net"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/go-hclog"

	"github.com/atgt/atgt/actors/cmdsn"
	"github.com/atgt/atgt/actors/login"
	"github.com/atgt/atgt/actors/sched"
	"github.com/atgt/atgt/actors/slab"
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/iscsi"
)

// Config is what a connection actor needs from its session and the target.
type Config struct {
	Conn       net.Conn
	Login      login.Config
	Discovery  []login.DiscoveryTarget
	Dispatcher *actor.PID
	// Route returns the LUN actor that owns a logical unit, or nil if there is none
	// (the dispatcher then answers). The dispatcher's routes never change after start,
	// so a session may route its SCSI tasks itself and spare every task one hop.
	Route       func(target string, lun uint64) *actor.PID
	Window      *cmdsn.Window // the session's CmdSN window; ExpCmdSN is read from it
	TSIH        uint16
	QueueDepth  uint32
	NopInterval time.Duration
	// NopTimeout is how long a pinged initiator has to send anything before the
	// connection is dropped.
	NopTimeout time.Duration
	// LoginTimeout is how long a connection has from accept to the end of login
	// before it is closed, so that a silent or stalled connection does not hold a
	// socket and an actor for ever (RFC 7143 leaves the limit to the target). 0 means
	// no limit.
	LoginTimeout time.Duration
	// MaxTaskBytes caps the write data buffered for one command (EDTL comes from the
	// network and must not size an allocation unchecked).
	MaxTaskBytes uint32
	// MaxBufferedBytes caps the write data one connection holds at once; commands
	// beyond it get TASK SET FULL.
	MaxBufferedBytes uint64
	Log              hclog.Logger
}

// LoginComplete tells the session that its connection finished login.
type LoginComplete struct {
	Result     login.Result
	FirstCmdSN uint32
}

// LogoutSession tells the session that the initiator logged out (closing the session
// or the connection) or the connection ended, so that the session can end.
type LogoutSession struct{ Reason string }

// Props returns a connection actor's props.
func Props(cfg Config) *actor.Props {
	// The connection looks at its own mailbox to send what a turn produced at once.
	mailbox := &sched.Probe{}
	return actor.PropsFromProducer(func() actor.Actor {
		c := newConn(cfg)
		c.mailbox = mailbox
		return c
	}, actor.WithDispatcher(sched.Default), mailbox.Option())
}

type connActor struct {
	cfg      Config
	log      hclog.Logger
	behavior actor.Behavior
	w        *writer
	steps    chan readerStep
	self     *pb.Pid
	// taskSlab holds the task records: one allocation per many commands.
	taskSlab slab.Slab[task]

	lm       *login.Machine
	params   login.Params
	result   login.Result
	loggedIn bool
	// loginDeadline ends the login phase (LoginTimeout after start).
	loginDeadline time.Time

	statSN  uint32
	hd, dd  bool
	lastMax uint32

	tasks map[uint32]*task // by ITT
	// unordered are the non-immediate tasks not yet known to be released by the
	// session (by CommandReady, or by ExpCmdSN passing their CmdSN), a few at most:
	// window counts through them instead of all tasks.
	unordered map[uint32]*task
	others    map[uint32]*iscsi.PDU // non-SCSI requests awaiting CmdSN order, by ITT
	tmfs      map[uint32]*pendingTMF
	r2ts      map[uint32]*r2t // by TTT
	nextTTT   uint32
	buffered  uint64 // bytes of write buffers held by tasks

	pingTTT     uint32
	pingPending bool
	closing     bool // a closing batch was queued
	closed      bool
	nexusGone   bool // NexusLoss sent
	nexusID     string

	out     outBatch // PDUs collected during this mailbox turn
	mailbox *sched.Probe
}

func newConn(cfg Config) *connActor {
	c := &connActor{
		cfg:       cfg,
		log:       cfg.Log,
		tasks:     map[uint32]*task{},
		unordered: map[uint32]*task{},
		others:    map[uint32]*iscsi.PDU{},
		tmfs:      map[uint32]*pendingTMF{},
		r2ts:      map[uint32]*r2t{},
		steps:     make(chan readerStep, 1),
	}
	c.behavior = actor.NewBehavior()
	c.behavior.Become(c.loginPhase)
	return c
}

// Receive dispatches to the behaviour of the current protocol phase.
func (c *connActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		c.start(ctx)
		return
	case *actor.Stopping:
		c.shutdown()
		return
	case *readFailed:
		c.log.Debug("connection read ended", "error", m.err)
		c.finish(ctx, "connection closed: "+m.err.Error())
		return
	case *writeFailed:
		c.log.Debug("connection write failed", "error", m.err)
		c.finish(ctx, "write failed: "+m.err.Error())
		return
	}
	c.behavior.Receive(ctx)
	if len(c.out.pdus) > 0 && c.mailbox.Idle() {
		c.flush()
	}
}

func (c *connActor) start(ctx actor.Context) {
	c.self = pb.NewResolvedPid(ctx.Self())
	c.lm = login.NewMachine(c.cfg.Login)
	c.w = newWriter(c.cfg.Conn, 4096)
	root := ctx.ActorSystem().Root
	self := ctx.Self()
	go c.w.run(func(err error) { root.Send(self, &writeFailed{err: err}) })
	go readLoop(c.cfg.Conn, root, self, c.steps, 256<<10)
	if c.cfg.LoginTimeout > 0 {
		c.loginDeadline = time.Now().Add(c.cfg.LoginTimeout)
		ctx.SetReceiveTimeout(c.cfg.LoginTimeout)
	}
	c.log.Debug("connection accepted", "remote", c.cfg.Conn.RemoteAddr().String())
}

// finish tells the session that this connection is over and stops the actor.
func (c *connActor) finish(ctx actor.Context, reason string) {
	if c.closed {
		return
	}
	c.closed = true
	c.nexusLost(ctx)
	ctx.Send(ctx.Parent(), &LogoutSession{Reason: reason})
	ctx.Stop(ctx.Self())
}

// shutdown lets the writer send what is queued (bounded by a write deadline) and
// close the socket, which also ends the reader.
func (c *connActor) shutdown() {
	c.self.Forget()
	c.cfg.Conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	c.flush()
	if c.w != nil {
		close(c.w.ch)
		c.w = nil
	} else {
		c.cfg.Conn.Close()
	}
	select {
	case c.steps <- readerStep{stop: true}:
	default:
	}
}

// send queues PDUs for the writer with the connection's current digest settings.
func (c *connActor) send(pdus ...*iscsi.PDU) {
	c.sendBatch(outBatch{pdus: pdus, hd: c.hd, dd: c.dd})
}

// sendBatch hands a batch to the writer: in the full feature phase it joins the
// PDUs the connection collects during its mailbox turn (see emit).
func (c *connActor) sendBatch(b outBatch) {
	if c.w == nil || c.closing {
		return
	}
	if c.loggedIn && !b.closeNow {
		for _, p := range b.pdus {
			c.emit(p)
		}
		c.out.release = append(c.out.release, b.release...)
		return
	}
	c.flush()
	c.logOut(b.pdus)
	c.w.ch <- b
}

// maxTurnPDUs bounds the PDUs collected before they go to the writer.
const maxTurnPDUs = 256

// emit collects a PDU of the full feature phase for the writer. The collected PDUs
// go as one batch when the mailbox is empty at the end of a turn (or the batch is
// full), so a burst of completions costs the writer one wakeup and one writev rather
// than one each.
func (c *connActor) emit(p *iscsi.PDU) {
	if c.w == nil || c.closing {
		return
	}
	c.out.pdus = append(c.out.pdus, p)
	if len(c.out.pdus) >= maxTurnPDUs {
		c.flush()
	}
}

// flush hands the collected PDUs to the writer.
func (c *connActor) flush() {
	if len(c.out.pdus) == 0 || c.w == nil {
		return
	}
	c.out.hd, c.out.dd = c.hd, c.dd
	c.logOut(c.out.pdus)
	c.w.ch <- c.out
	c.out = outBatch{}
}

func (c *connActor) logOut(pdus []*iscsi.PDU) {
	if c.log.IsDebug() {
		for _, p := range pdus {
			c.log.Debug("pdu out", "pdu", p.String())
		}
	}
}

// sendAndClose queues PDUs and has the writer close the socket after them; nothing
// more is sent on this connection.
func (c *connActor) sendAndClose(pdus ...*iscsi.PDU) {
	c.sendBatch(outBatch{pdus: pdus, hd: c.hd, dd: c.dd, closeNow: true})
	c.closing = true
}

// nextStatSN returns the StatSN for a status-carrying PDU and advances it.
func (c *connActor) nextStatSN() uint32 {
	s := c.statSN
	c.statSN++
	return s
}

// window fills ExpCmdSN and MaxCmdSN. MaxCmdSN leaves room for the queue depth minus
// the tasks the connection still holds (running, or waiting for their Data-Out), and
// never moves backwards.
func (c *connActor) window(h *iscsi.BHS) {
	exp := c.cfg.Window.Exp()
	depth := c.cfg.QueueDepth
	// The tasks the session has passed in CmdSN order (CmdSN below ExpCmdSN, or
	// immediate) and that are not answered yet. Counted against ExpCmdSN rather than
	// on CommandReady, since ExpCmdSN moves as soon as the session orders a command:
	// every task but those still unordered and at or beyond ExpCmdSN.
	busy := uint32(len(c.tasks))
	for itt, tk := range c.unordered {
		if cmdsn.Less(tk.t.CmdSn, exp) {
			delete(c.unordered, itt) // released by the session
			continue
		}
		busy--
	}
	if busy > depth {
		busy = depth
	}
	// With depth tasks busy the window is closed: MaxCmdSN = ExpCmdSN - 1.
	max := exp + depth - 1 - busy
	if cmdsn.Less(max, c.lastMax) {
		max = c.lastMax
	}
	c.lastMax = max
	h.SetExpCmdSN(exp)
	h.SetMaxCmdSN(max)
}

// nexusLost tells the target's LUNs, once, that this I_T nexus has ended. It is sent
// before a Logout Response goes out, so that the LUNs know before the initiator can
// act on the logout.
func (c *connActor) nexusLost(ctx actor.Context) {
	if c.nexusGone || !c.loggedIn || c.result.SessionType == "Discovery" {
		return
	}
	c.nexusGone = true
	ctx.Send(c.cfg.Dispatcher, &pb.NexusLoss{Target: c.result.Target.Name, Nexus: c.nexus()})
}
