// Package conn holds the connection actor: one per TCP connection, it runs login,
// then drives the command phase (actors/cmdphase, a pure state machine) with the PDUs
// its reader parses and the messages its session and LUNs send, and hands what the
// machine produces to its writer, batched into few syscalls (the paper's three
// activities). The actor keeps only the mailbox, the reader and the writer.
package conn

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/go-hclog"

	"github.com/atgt/atgt/actors/bufpool"
	"github.com/atgt/atgt/actors/cmdphase"
	"github.com/atgt/atgt/actors/login"
	"github.com/atgt/atgt/actors/metrics"
	"github.com/atgt/atgt/actors/sched"
	"github.com/atgt/atgt/actors/supervise"
	"github.com/atgt/atgt/actors/trace"
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/iscsi"
)

// Config is what a connection actor needs from its session and the target.
type Config struct {
	Conn  net.Conn
	Login login.Config
	// Discovery lists the targets SendTargets may name, as they are now (targets and
	// access lists change at runtime); nil names none.
	Discovery  func() []login.DiscoveryTarget
	Dispatcher *actor.PID
	// Route returns the LUN actor that owns a logical unit, or nil if there is none
	// (the dispatcher then answers), so that a session routes its SCSI tasks itself
	// and spares every task one hop.
	Route func(target string, lun uint64) *actor.PID
	// RouteVersion counts changes of the routes (a LUN added or removed); a session
	// may keep a route it found while the version stays the same. nil: the routes
	// never change.
	RouteVersion func() uint64
	TSIH         uint16
	QueueDepth   uint32
	NopInterval  time.Duration
	// NopTimeout is how long a pinged initiator has to send anything before the
	// connection is dropped.
	NopTimeout time.Duration
	// LoginTimeout is how long a connection has from accept to the end of login
	// before it is closed, so that a silent or stalled connection does not hold a
	// socket and an actor for ever (RFC 7143 leaves the limit to the target). 0 means
	// no limit.
	LoginTimeout time.Duration
	// Accepted is when Conn was accepted: the login timeout counts from it (zero:
	// from the actor's start).
	Accepted time.Time
	// WriteTimeout is how long the writer may go without progress (the peer
	// stopped reading) before the connection is closed. 0 means no limit.
	WriteTimeout time.Duration
	// SpinWait is how long the reader of a connection that serves one command at a
	// time waits for the next one awake before it parks (spin.go); 0 never spins.
	SpinWait time.Duration
	// LoginFailed, if set, hears of each failed login (once per connection): one
	// the target rejected, a protocol error during login, or the login timeout. The
	// target's limits refuse an address with too many.
	LoginFailed func(remote net.Addr)
	// MayWarn, if set, rate-limits the warning a refused login logs (limit.Guard's
	// MayWarn: whether to log, and how many were held back); when it says no the
	// refusal is logged at info. nil: every refusal is logged at warn.
	MayWarn func(kind string) (bool, int)
	// MayResetTarget, if set, says whether a nexus may have a TARGET WARM RESET or
	// TARGET COLD RESET run (cmdphase.Config.MayResetTarget), as the target's
	// config is now; nil: every one may.
	MayResetTarget func(target, route string) (ok bool, why string)
	// MaxTaskBytes caps the write data buffered for one command (EDTL comes from the
	// network and must not size an allocation unchecked).
	MaxTaskBytes uint32
	// MaxBufferedBytes caps the write data one connection holds at once; commands
	// beyond it get TASK SET FULL.
	MaxBufferedBytes uint64
	// WriteBudget, if set, bounds the write data all the target's connections
	// buffer together (cmdphase.WriteBudget).
	WriteBudget *cmdphase.WriteBudget
	// ReadBudget, if set, bounds the Data-In all the target's connections owe or
	// hold together (readbudget.go).
	ReadBudget *ReadBudget
	// DataOutTimeout is how long a task may wait for Data-Out the initiator owes
	// it before the connection is dropped (cmdphase.Machine.CheckDataOut). 0 means
	// no limit.
	DataOutTimeout time.Duration
	// Stats, if set, receives the connection's figures (stats.go).
	Stats *Stats
	// Metrics, if set, counts logins, logouts, sessions, digest errors and
	// rejected PDUs (metrics.go); nil counts nothing.
	Metrics *metrics.Registry
	// Tracer, if set, traces the tasks its settings select (trace.go).
	Tracer *trace.Tracer
	Log    hclog.Logger
}

// LoginComplete tells the session that its connection finished login; the session's
// CmdSN window starts at FirstCmdSN. The connection sends the final Login Response
// only when the session answers with Admit.
type LoginComplete struct {
	Result     login.Result
	FirstCmdSN uint32
}

// Admit is the session manager's answer to a complete login, which the session
// passes on to its connection: the final Login Response goes out and the full
// feature phase begins, or, with Refused set (why), the login fails with Status
// (zero: Service Unavailable). The manager refuses a login to a target that had a
// TARGET COLD RESET after the connection was accepted (RFC 7143 11.5.1: the reset
// closes every connection to the target, this one too), and a login naming a TSIH
// that it cannot take as a connection reinstatement (RFC 7143 6.3.4). Continue is
// set when the login reinstates the connection of a live session, which goes on
// over this connection.
type Admit struct {
	Refused  string
	Status   login.Status
	Continue *Continue
}

// Continue is the state of the session a reinstated connection continues (RFC
// 7143 6.3.4): its TSIH, its ExpCmdSN (the final Login Response carries the
// session's window, 11.13) and its operational parameters, of which the new
// connection keeps only those a non-leading login negotiates (login.Continued).
type Continue struct {
	TSIH     uint16
	ExpCmdSN uint32
	Params   login.Params
}

// RequestLogout asks the connection's initiator to log out within Within: an
// Asynchronous Message (AsyncEvent 1), sent when the target stops. A connection
// still logging in ignores it; it ends when the target does.
type RequestLogout struct{ Within time.Duration }

// End tells a connection to end as if its socket had closed: its LUNs are told the
// nexus is lost and its session that it is over. A session that failed sends it, since
// its own stop would stop the connection before it could tell the LUNs. Replaced:
// a connection reinstatement ends it, so the LUNs end its tasks but keep the nexus
// (cmdphase.Machine.Replaced).
type End struct {
	Reason   string
	Replaced bool
}

// LogoutSession tells the session that the initiator logged out (closing the session
// or the connection) or the connection ended, so that the session can end. Replaced:
// the connection ended for a connection reinstatement (End, Replaced), its LUNs told
// that only its tasks end.
type LogoutSession struct {
	Reason   string
	Replaced bool
}

// Props returns a connection actor's props. The session supervises it (stop); a panic
// in its actor, reader or writer ends this connection as a closed socket does, and
// nothing else.
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
	cfg Config
	// quiet times the login and the pings to a silent initiator (silence.go).
	quiet    silence
	log      hclog.Logger
	behavior actor.Behavior
	w        *writer
	flow     *flow
	steps    chan readerStep
	self     *pb.Pid

	// Login phase.
	lm *login.Machine
	// admitting is a complete login waiting for Admit.
	admitting *admission
	statSN    uint32
	// loginDeadline ends the login phase (LoginTimeout after start).
	loginDeadline time.Time
	// failedLogin: the login's failure was reported.
	failedLogin bool
	// session is the target a normal session logged in to, counted in its
	// sessions gauge until the connection ends ("": none); ended: the end of
	// the logged-in connection was counted.
	session string
	ended   bool

	// Full feature phase: the command phase's state machine.
	m      *cmdphase.Machine
	hd, dd bool

	// readsTaken is the EDTL of the commands that read in the reader's messages
	// this turn took; heldPub the machine's DataInHeld at the end of the last turn
	// (flow.reads counts both; publishReads moves the difference).
	readsTaken int64
	heldPub    uint64
	// tmfsTaken and tmfsPub are the same for the task management requests
	// (flow.tmfs, the machine's TMFsHeld; publishTMFs).
	tmfsTaken, tmfsPub int64
	// dataCheck calls the machine's CheckDataOut in half DataOutTimeout while a
	// task waits for Data-Out; dataArmed: it is due.
	dataCheck *time.Timer
	dataArmed bool

	closing bool // a closing batch was queued
	closed  bool
	// replaced: a connection reinstatement ended the connection (End, Replaced).
	replaced bool
	// flowDone: the actor is done with its flow (shutdown), so no turn after it
	// changes the flow's counters.
	flowDone bool
	// initiator is the logged-in initiator's name, for the warnings that end it.
	initiator string
	mailbox   *sched.Probe

	// tr is the connection's trace; rtrace hands its Conn to the reader.
	tr     connTrace
	rtrace atomic.Pointer[trace.Conn]
}

func newConn(cfg Config) *connActor {
	c := &connActor{cfg: cfg, log: cfg.Log, steps: make(chan readerStep, 1)}
	c.behavior = actor.NewBehavior()
	c.behavior.Become(c.loginPhase)
	return c
}

// Receive dispatches to the behaviour of the current protocol phase, then carries
// out what the command phase produced.
func (c *connActor) Receive(ctx actor.Context) {
	defer c.recoverTurn(ctx)
	switch ctx.Message().(type) {
	case *silenceCheck: // the actor's own timer: not something heard
	default:
		c.heard()
	}
	switch m := ctx.Message().(type) {
	case *actor.Started:
		c.start(ctx)
		return
	case *actor.Stopping:
		c.shutdown()
		return
	case *pduIn:
		c.readsTaken += m.reads
		c.tmfsTaken += m.tmfs
		c.flow.taken()
	case *pduBatch:
		c.readsTaken += m.reads
		c.tmfsTaken += m.tmfs
		c.flow.taken()
	case *dataDigestFailed:
		c.flow.taken()
	case *readFailed:
		c.ioFailed("connection read ended", m.err)
		var le *iscsi.LengthError
		if errors.As(m.err, &le) {
			c.loginFailed(metrics.LoginNegotiationFailure) // an oversized login segment; nothing once logged in
		}
		if errors.Is(m.err, iscsi.ErrHeaderDigest) {
			c.cfg.Metrics.DigestError(true)
		}
		c.finish(ctx, "connection closed: "+m.err.Error())
		return
	case *writeFailed:
		if errors.Is(m.err, errClosedAfter) {
			c.finish(ctx, m.err.Error())
			return
		}
		c.ioFailed("connection write failed", m.err)
		c.slowPeer(m.err)
		c.finish(ctx, "write failed: "+m.err.Error())
		return
	case *End:
		if m.Replaced && !c.closed {
			c.replaced = true
			if c.m != nil {
				c.m.Replaced(m.Reason) // finish's Closed then finds the nexus loss sent
			}
		}
		c.finish(ctx, m.Reason)
		return
	case *supervise.Crash:
		m.Panic()
	}
	c.behavior.Receive(ctx)
	if c.m != nil && !c.flowDone {
		c.drain(ctx)
		c.publishReads()
		c.publishTMFs()
	}
}

// ioFailed logs why the reader or writer ended: at debug when the socket did, at warn
// when the goroutine panicked (a bug, which ends only this connection).
func (c *connActor) ioFailed(what string, err error) {
	var pe *panicError
	if errors.As(err, &pe) {
		c.log.Warn(what+": panic; ending the connection", "remote", c.cfg.Conn.RemoteAddr().String(),
			"error", err, "stack", pe.stack)
		return
	}
	c.log.Debug(what, "error", err)
}

// recoverTurn runs when a turn panics: the connection ends as a closed socket ends it
// (its LUNs are told the nexus is lost, its session that it is over), then the panic
// goes on to the session's connStrategy. A panic while stopping is only logged: passed
// on, it would leave the stop unfinished and the session waiting for ever.
func (c *connActor) recoverTurn(ctx actor.Context) {
	r := recover()
	if r == nil {
		return
	}
	c.log.Error("connection actor failed; ending the connection", "remote", c.cfg.Conn.RemoteAddr().String(),
		"reason", fmt.Sprint(r), "stack", string(debug.Stack()))
	if _, stopping := ctx.Message().(*actor.Stopping); stopping {
		return
	}
	func() {
		defer func() {
			if r2 := recover(); r2 != nil { // the command phase is broken too: end without it
				c.log.Error("connection could not end cleanly", "reason", fmt.Sprint(r2))
				ctx.Send(ctx.Parent(), &LogoutSession{Reason: "connection failed"})
				ctx.Stop(ctx.Self())
			}
		}()
		c.finish(ctx, fmt.Sprintf("connection failed: %v", r))
	}()
	panic(r)
}

func (c *connActor) start(ctx actor.Context) {
	c.self = pb.NewResolvedPid(ctx.Self())
	root := ctx.ActorSystem().Root
	self := ctx.Self()
	c.flow = newFlow()
	c.flow.budget = c.cfg.ReadBudget
	c.flow.maxRead = c.cfg.MaxTaskBytes
	c.w = newWriter(c.cfg.Conn, c.cfg.WriteTimeout, c.flow, func(err error) { root.Send(self, &writeFailed{err: err}) })
	var inFlight *atomic.Int64
	if c.cfg.Stats != nil {
		inFlight = &c.cfg.Stats.TasksInFlight
	}
	go readLoop(c.cfg.Conn, root, self, c.steps, c.flow, readerBuffer, &c.rtrace, c.cfg.SpinWait, inFlight)
	if c.cfg.LoginTimeout > 0 {
		from := c.cfg.Accepted
		if from.IsZero() {
			from = time.Now()
		}
		c.loginDeadline = from.Add(c.cfg.LoginTimeout)
		c.setSilence(ctx, max(time.Until(c.loginDeadline), time.Millisecond))
	}
	c.log.Debug("connection accepted", "remote", c.cfg.Conn.RemoteAddr().String())
}

// readerBuffer is the reader's buffer in the full feature phase: one read of the
// socket can bring many PDUs. Before login the reader makes do with 4 KiB.
const readerBuffer = 256 << 10

// stopWrites bounds how long a stopping connection's writer may take to send what
// is queued.
const stopWrites = 5 * time.Second

// loginFailed reports the failed login to the limits and counts it under res, once
// per connection; a logged-in connection has nothing to report.
func (c *connActor) loginFailed(res metrics.LoginResult) {
	if c.m != nil || c.failedLogin {
		return
	}
	c.failedLogin = true
	c.cfg.Metrics.Login(res)
	if c.cfg.LoginFailed != nil {
		c.cfg.LoginFailed(c.cfg.Conn.RemoteAddr())
	}
}

// peerAddr is the IP address of a connection's remote end, IPv4-mapped IPv6
// addresses as IPv4, or the zero Addr if it has none (a pipe in tests), which a
// target limited to networks refuses.
func peerAddr(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(ta.IP); ok {
			return ip.Unmap()
		}
	}
	return netip.Addr{}
}

// finish tells the session that this connection is over and stops the actor.
func (c *connActor) finish(ctx actor.Context, reason string) {
	if c.closed {
		return
	}
	c.closed = true
	if c.m != nil {
		c.m.Closed(reason)
		c.sendMsgs(ctx)
	}
	ctx.Send(ctx.Parent(), &LogoutSession{Reason: reason, Replaced: c.replaced})
	ctx.Stop(ctx.Self())
}

// shutdown lets the writer send what is queued (bounded by a write deadline) and
// close the socket, which also ends the reader.
func (c *connActor) shutdown() {
	c.countEnd()
	c.stopSilence() // its function holds the actor's address
	defer c.traceClose()
	defer c.flowFinished() // even if the rest panics: the budget gets its share back
	if c.dataCheck != nil {
		c.dataCheck.Stop() // its function holds the actor's PID
	}
	c.self.Forget()
	if c.m != nil {
		c.flush(false)
	}
	if c.w != nil {
		c.w.end(time.Now().Add(stopWrites))
		c.w = nil
	} else {
		c.cfg.Conn.Close()
	}
	select {
	case c.steps <- readerStep{stop: true}:
	default:
	}
}

// flowFinished tells the flow that the actor is done with it, once: no turn
// after it changes the flow's counters (Receive checks flowDone).
func (c *connActor) flowFinished() {
	if c.flow != nil && !c.flowDone {
		c.flowDone = true
		c.flow.done1()
	}
}

// maxTurnPDUs bounds the PDUs collected before they go to the writer.
const maxTurnPDUs = 256

// drain carries out the command phase's outbox: messages go at once; PDUs go to the
// writer as one batch when the mailbox is empty at the end of a turn (or the batch is
// full, or the socket is to close), so a burst of completions costs the writer one
// wakeup and one writev rather than one each.
func (c *connActor) drain(ctx actor.Context) {
	out := &c.m.Out
	c.sendMsgs(ctx)
	if out.Rearm > 0 {
		c.setSilence(ctx, out.Rearm)
		out.Rearm = 0
	}
	if out.OwesData {
		out.OwesData = false
		c.armDataCheck(ctx)
	}
	if out.Close || out.Over != "" || len(out.PDUs) >= maxTurnPDUs || (len(out.PDUs) > 0 && c.mailbox.Idle()) {
		c.flush(out.Close)
	}
	if len(c.tr.got) > 0 && len(out.PDUs) == 0 {
		c.traceEnded()
	}
	if c.cfg.Stats != nil {
		n := int64(c.m.Tasks())
		c.cfg.Stats.TasksInFlight.Store(n)
		if n > c.cfg.Stats.PeakTasks.Load() {
			c.cfg.Stats.PeakTasks.Store(n)
		}
	}
	if out.Over != "" {
		c.finish(ctx, out.Over)
	}
}

// publishReads moves the turn's change of the Data-In the connection owes to
// flow.reads, after the turn's responses went to the writer (flow.queued): at most
// one atomic add per turn, none in a turn that changed nothing.
func (c *connActor) publishReads() {
	held := c.m.DataInHeld()
	d := int64(held-c.heldPub) - c.readsTaken
	if d == 0 || d < 0 && len(c.m.Out.PDUs) > 0 {
		// Nothing changed, or Data-In not yet handed to the writer (and so not
		// in flow.queued) would go uncounted: a later turn moves it.
		return
	}
	c.flow.answered(d)
	c.heldPub, c.readsTaken = held, 0
}

// publishTMFs moves the turn's change of the task management requests the
// connection holds to flow.tmfs: those the turn took from the reader's messages
// now count as the machine's until it answers them.
func (c *connActor) publishTMFs() {
	held := int64(c.m.TMFsHeld())
	if d := held - c.tmfsPub - c.tmfsTaken; d != 0 {
		c.flow.addTMFs(d)
	}
	c.tmfsPub, c.tmfsTaken = held, 0
}

// sendMsgs sends the machine's messages to the session and the dispatcher.
func (c *connActor) sendMsgs(ctx actor.Context) {
	out := &c.m.Out
	for i, msg := range out.Msgs {
		switch msg.To {
		case cmdphase.ToSession:
			ctx.Send(ctx.Parent(), msg.M)
		case cmdphase.ToDispatcher:
			if t, ok := msg.M.(*pb.ScsiTask); ok && t.TraceId != 0 {
				c.traceDispatch(t)
			}
			ctx.Send(c.cfg.Dispatcher, msg.M)
		}
		out.Msgs[i] = cmdphase.Msg{}
	}
	out.Msgs = out.Msgs[:0]
}

// flush hands the PDUs the machine produced to the writer; closeNow has the writer
// close the socket after them.
func (c *connActor) flush(closeNow bool) {
	out := &c.m.Out
	if c.w == nil || c.closing {
		for _, r := range out.Release {
			bufpool.Put(r) // never to be sent
		}
		for _, p := range out.PDUs {
			p.Data = nil // it may live on in a task's slab chunk
		}
		clear(out.PDUs)
		clear(out.Release)
		out.PDUs, out.Release = out.PDUs[:0], out.Release[:0]
		return
	}
	if len(out.PDUs) == 0 && !closeNow {
		return
	}
	c.cfg.Stats.countOut(out.PDUs)
	b := outBatch{pdus: out.PDUs, hd: c.hd, dd: c.dd, closeNow: closeNow, release: out.Release,
		halfClose: closeNow && c.m.LoggedOut()}
	if len(c.tr.live) > 0 {
		b.traced, b.tc = c.traceOut(out.PDUs), c.tr.tc
	}
	c.logOut(b)
	c.w.send(b)
	out.PDUs, out.Release = nil, nil
	c.closing = closeNow
}

// sendNow hands login-phase PDUs to the writer at once.
func (c *connActor) sendNow(b outBatch) {
	if c.w == nil || c.closing {
		return
	}
	c.logOut(b)
	c.w.send(b)
	c.closing = b.closeNow
}

func (c *connActor) logOut(b outBatch) {
	if c.log.IsDebug() {
		for _, p := range b.pdus {
			c.log.Debug("pdu out", "pdu", p.String())
		}
	}
}
