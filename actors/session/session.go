// Package session holds the session manager and the session actor. A session is one
// I_T nexus: it owns the CmdSN window, puts commands in order and hands SCSI tasks to
// the LUN the command dispatcher's routing table names. This target runs one
// connection per session (MaxConnections=1), so each session spawns its one
// connection actor.
package session

import (
	"fmt"
	"net"
	"runtime/debug"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/go-hclog"

	"github.com/atgt/atgt/actors/cmdphase"
	"github.com/atgt/atgt/actors/cmdsn"
	"github.com/atgt/atgt/actors/conn"
	"github.com/atgt/atgt/actors/sched"
	"github.com/atgt/atgt/actors/supervise"
	"github.com/atgt/atgt/actors/trace"
	pb "github.com/atgt/atgt/messages/atgtv1"
)

// Config describes one session.
type Config struct {
	Conn    net.Conn
	ConnCfg conn.Config // template; Conn, TSIH and Log are filled per session
	TSIH    uint16
	Manager *actor.PID
	Log     hclog.Logger
	// AcceptedAt is when Conn was accepted (zero: unknown).
	AcceptedAt time.Time
}

// Up tells the session manager that a session finished login, so that it can
// admit or refuse it (conn.Admit, which the session passes on to its connection:
// the final Login Response waits for it), reinstate (end) an older session of the
// same initiator port (RFC 7143 6.3.5) and list it (Info). The session holds its
// commands until the manager answers proceed.
type Up struct {
	Key  string
	PID  *actor.PID
	Info *Info
	// TSIH, CID and CmdSN are the login's: a TSIH other than 0 asks to reinstate
	// connection CID of that session (RFC 7143 6.3.4, connreinstate.go), whose
	// window the login's CmdSN continues (11.12.8).
	TSIH, CID uint16
	CmdSN     uint32
}

// Props returns a session actor's props. Its connection is supervised by
// connStrategy, and the session by the manager's sessionStrategy.
func Props(cfg Config) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor { return newSession(cfg) },
		actor.WithSupervisor(&connStrategy{log: cfg.Log}), actor.WithDispatcher(sched.Default))
}

// connStrategy is a session's supervision of its connection: stop. A connection's
// state (the command phase: tasks in flight, StatSN, the initiator's view of them)
// cannot be rebuilt, and the initiator recovers by logging in again (ERL 0). By the
// time the strategy runs, the connection has ended itself (conn's recover: its LUNs
// told the nexus is lost, the session told to end); the stop ends the actor.
type connStrategy struct{ log hclog.Logger }

// HandleFailure stops the failed connection.
func (s *connStrategy) HandleFailure(_ *actor.ActorSystem, sup actor.Supervisor, child *actor.PID,
	_ *actor.RestartStatistics, reason, _ any) {
	s.log.Error("connection failed; stopping it", "conn", child.Id, "reason", fmt.Sprint(reason))
	sup.StopChildren(child)
}

// sessionStrategy is the session manager's supervision of its sessions: resume, then
// the session ends. A session cannot be rebuilt any more than its connection, but
// stopping it at once would stop its connection before the connection tells the LUNs
// that the nexus is lost (a RESERVE(6) held by it would never be released). So a
// failed session (its recover) asks its connection to end as if the socket had closed
// and ignores everything else; resumed, it stops when its connection has ended.
type sessionStrategy struct{ log hclog.Logger }

// HandleFailure resumes the failed session, which is already ending.
func (s *sessionStrategy) HandleFailure(_ *actor.ActorSystem, sup actor.Supervisor, child *actor.PID,
	_ *actor.RestartStatistics, reason, _ any) {
	s.log.Error("session failed; it ends with its connection", "session", child.Id, "reason", fmt.Sprint(reason))
	sup.ResumeChildren(child)
}

type sessionActor struct {
	cfg      Config
	log      hclog.Logger
	window   *cmdsn.Window
	conn     *actor.PID
	behavior actor.Behavior
	failed   bool // a turn panicked: the session waits for its connection to end
	stats    *conn.Stats
	target   string // the target's name
	// held: the manager has not yet said proceed; stash keeps the commands until it
	// does (bounded by the connection's queue depth).
	held bool
	// holdTimer ends a hold that lasts holdLimit; stopped when the hold ends or
	// the session stops, since its function holds the session's PID (and with it
	// the whole stopped actor) until it runs.
	holdTimer *time.Timer
	stash     []*pb.CommandOrder
	// hole bounds how long a request waits behind a CmdSN hole (holewatch.go).
	hole holeWatch
	// initiator is the logged-in initiator's name, for the warnings that end it.
	initiator string
	// connGone: the connection has stopped; the session stops at connEnded.
	connGone bool
	// replaced: a connection reinstatement ends this session's connection, and the
	// session's window goes on in the new connection's session (connreinstate.go);
	// handsOver: the connection ended for it (not on its own first), so the LUNs
	// kept the nexus, and the session hands its window over as it stops.
	replaced, handsOver bool
	// loss is the NexusLoss the session sends when it stops, once it has sent a task
	// to a LUN itself (see Receive).
	loss *pb.NexusLoss
	// telling: an abortOthers waits for the manager's othersTold; untold are the
	// TaskSetAborted merged meanwhile (tellOthers).
	telling bool
	untold  []*pb.TaskSetAborted
	last    struct { // the last route found, at routes version version
		target  string
		lun     uint64
		pid     *actor.PID
		version uint64
	}
}

func newSession(cfg Config) *sessionActor {
	s := &sessionActor{cfg: cfg, log: cfg.Log.With("tsih", cfg.TSIH)}
	s.window = cmdsn.NewWindow(0, cfg.ConnCfg.QueueDepth)
	s.behavior = actor.NewBehavior()
	s.behavior.Become(s.loggingIn)
	return s
}

// Receive handles lifecycle messages and then the current phase's behaviour.
func (s *sessionActor) Receive(ctx actor.Context) {
	defer s.recoverTurn(ctx)
	if _, ok := ctx.Message().(*actor.Stopping); ok {
		s.stopHold()
		s.stopHoleWatch()
	}
	if _, ok := ctx.Message().(*actor.Stopping); ok {
		s.flushOthers(ctx)
		if s.loss != nil && s.cfg.ConnCfg.Dispatcher != nil {
			// The connection's NexusLoss may reach a LUN before tasks this session
			// sent it directly; this one, through the dispatcher, reaches it after
			// them, so that the LUN ends those too, and before the manager lets a
			// session of the same nexus start (it waits for this one to stop, then
			// flushes the dispatcher).
			s.loss.ConnectionOnly = s.handsOver
			ctx.Send(s.cfg.ConnCfg.Dispatcher, s.loss)
		}
		if s.handsOver {
			// After the NexusLoss: the manager flushes the dispatcher behind it.
			ctx.Send(s.cfg.Manager, &handedOver{pid: ctx.Self(), exp: s.window.Exp()})
		}
		return
	}
	if s.failed {
		s.ending(ctx)
		return
	}
	switch m := ctx.Message().(type) {
	case *supervise.Crash:
		m.Panic()
	case *actor.Started:
		cc := s.cfg.ConnCfg
		cc.Conn = s.cfg.Conn
		cc.Accepted = s.cfg.AcceptedAt
		cc.TSIH = s.cfg.TSIH
		cc.Log = s.log
		s.stats = &conn.Stats{}
		cc.Stats = s.stats
		pid, err := ctx.SpawnNamed(conn.Props(cc), "conn") // "target/sessions/$7/conn" in logs
		if err != nil {
			pid = ctx.Spawn(conn.Props(cc))
		}
		s.conn = pid
		return
	case *actor.Terminated:
		if m.Who.Equal(s.conn) {
			// A system message, it overtakes what the connection sent last (a
			// TaskSetAborted, a TargetColdReset); the session stops behind those,
			// and releases no command meanwhile.
			s.connGone = true
			ctx.Send(ctx.Self(), connEnded{})
		}
		return
	case connEnded:
		ctx.Stop(ctx.Self())
		return
	case *conn.RequestLogout:
		ctx.Send(s.conn, m)
		return
	case *conn.End:
		ctx.Send(s.conn, m)
		return
	case *conn.Admit:
		if k := m.Continue; k != nil {
			s.continues(k)
		}
		ctx.Send(s.conn, m) // the manager's answer to Up: the connection ends its login
		return
	case *conn.LogoutSession:
		s.log.Debug("session ends", "reason", m.Reason)
		s.handsOver = s.replaced && m.Replaced
		ctx.Stop(ctx.Self())
		return
	case *cmdphase.TargetColdReset:
		s.flushOthers(ctx)
		ctx.Send(s.cfg.Manager, &coldReset{target: s.target, from: ctx.Self()})
		return
	}
	s.behavior.Receive(ctx)
}

// recoverTurn runs when a turn panics: the session asks its connection to end, as if
// the socket had closed, so that the connection tells the LUNs the nexus is lost and
// then the session, which stops. The panic goes on to sessionStrategy.
func (s *sessionActor) recoverTurn(ctx actor.Context) {
	r := recover()
	if r == nil {
		return
	}
	if !s.failed {
		s.failed = true
		s.log.Error("session failed; ending its connection", "reason", fmt.Sprint(r), "stack", string(debug.Stack()))
		if s.conn != nil {
			ctx.Send(s.conn, &conn.End{Reason: "session failed"})
		} else {
			ctx.Stop(ctx.Self())
		}
	}
	panic(r)
}

// ending is the behaviour of a failed session: it stops when its connection has ended
// and drops everything else.
func (s *sessionActor) ending(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Terminated:
		if m.Who.Equal(s.conn) {
			ctx.Stop(ctx.Self())
		}
	case *conn.LogoutSession:
		ctx.Stop(ctx.Self())
	}
}

// loggingIn waits for the connection's login to finish.
func (s *sessionActor) loggingIn(ctx actor.Context) {
	if m, ok := ctx.Message().(*conn.LoginComplete); ok {
		s.window.Start(m.FirstCmdSN)
		key := m.Result.InitiatorName + "," + string(m.Result.ISID[:]) + "," + m.Result.Target.Name
		s.target = m.Result.Target.Name
		s.initiator = m.Result.InitiatorName
		ctx.Send(s.cfg.Manager, &Up{Key: key, PID: ctx.Self(), Info: s.info(m.Result), TSIH: m.Result.TSIH,
			CID: m.Result.CID, CmdSN: m.FirstCmdSN})
		s.held = true
		s.holdTimer = sched.SendAfter(ctx, holdLimit, &holdExpired{})
		s.behavior.Become(s.fullFeature)
	}
}

// connEnded: the session's connection has stopped.
type connEnded struct{}

// proceed tells a session that finished login that it may release its commands: an
// older session of its initiator port has ended, and its NexusLoss has reached the
// LUNs (RFC 7143 6.3.5: the old session is terminated before the new one goes on).
type proceed struct{}

// holdExpired: holdLimit passed since login.
type holdExpired struct{}

// holdLimit bounds how long a session waits for proceed. Ending an older session
// takes a few turns; a session still waiting after this (the manager failed on its
// Up) ends, and its initiator logs in again, rather than run beside the old one.
var holdLimit = 10 * time.Second

// release ends the hold: the stashed commands go on in the order they came.
func (s *sessionActor) release(ctx actor.Context) {
	s.held = false
	s.stopHold()
	stash := s.stash
	s.stash = nil
	for _, o := range stash {
		s.order(ctx, o)
	}
}

// stopHold stops the hold's timer, if any.
func (s *sessionActor) stopHold() {
	if s.holdTimer != nil {
		s.holdTimer.Stop()
		s.holdTimer = nil
	}
}

// fullFeature orders commands by CmdSN and releases them: complete SCSI tasks go to
// their LUN (see route), everything else back to the connection.
func (s *sessionActor) fullFeature(ctx actor.Context) {
	var o *pb.CommandOrder
	switch m := ctx.Message().(type) {
	case *pb.CommandOrder:
		o = m
	case *replace:
		// After the commands: not a case on the data path. The manager sends it
		// only to an admitted session, which is in this behaviour.
		s.replaced = true
		ctx.Send(s.conn, &conn.End{Reason: "connection reinstated", Replaced: true})
		return
	case *proceed:
		if s.held {
			s.release(ctx)
		}
		return
	case *holdExpired:
		if s.held {
			s.log.Warn("the session manager did not let the session start; ending it", "limit", holdLimit)
			s.stash = nil
			ctx.Send(s.conn, &conn.End{Reason: "session could not start"})
		}
		return
	case *pb.TaskSetAborted:
		// This nexus's function aborted a shared task set: the manager tells the
		// target's other sessions.
		s.tellOthers(ctx, m)
		return
	case *othersTold:
		s.toldOthers(ctx)
		return
	case *otherAborted:
		s.otherAborted(ctx, m.m)
		return
	case *holeCheck:
		s.checkHole(ctx)
		return
	case *cmdsn.Withdraw:
		if o, ok := s.window.Withdraw(m.CmdSn, m.Task); ok {
			s.reply(ctx, o, s.window.Exp(), true)
		}
		return
	default:
		return
	}
	if s.held {
		s.stash = append(s.stash, o)
		return
	}
	s.order(ctx, o)
}

// order puts o in CmdSN order and releases what is ready.
func (s *sessionActor) order(ctx actor.Context, o *pb.CommandOrder) {
	if s.connGone {
		return // nobody to answer it
	}
	ready, accepted := s.window.Accept(o)
	// Whatever goes back to the connection, or on to a LUN and from there back to
	// the connection, carries ExpCmdSN: the connection learns the window only so.
	exp := s.window.Exp()
	if !accepted {
		s.log.Debug("command outside the CmdSN window dropped", "cmdsn", o.CmdSn, "exp", exp)
		s.reply(ctx, o, exp, true)
		return
	}
	if len(ready) == 0 && s.window.Waits(o.CmdSn) {
		s.waiting(ctx, o.CmdSn) // behind a hole
		return
	}
	for _, r := range ready {
		if r.Task != nil {
			r.Task.ExpCmdSn = exp
			if r.Task.TraceId != 0 {
				trace.AddMsg(r.Task.TraceId, trace.Event{Hop: trace.HopOrdered, Actor: trace.ActorSession,
					ActorID: ctx.Self().Id, Message: trace.MsgOrder}, r)
			}
			if !r.Task.DataPending {
				if s.loss == nil {
					s.loss = &pb.NexusLoss{Target: r.Task.Target, Nexus: r.Task.Nexus, ReplyTo: r.Task.ReplyTo}
				}
				ctx.Send(s.route(r.Task), r.Task)
				continue
			}
		}
		s.reply(ctx, r, exp, false)
	}
}

// route returns where a ready task goes: its LUN actor when the target's routes
// know it (remembering the last one, since a session mostly talks to one LUN), else
// the dispatcher, which answers tasks for LUNs that do not exist.
func (s *sessionActor) route(t *pb.ScsiTask) *actor.PID {
	var version uint64
	if v := s.cfg.ConnCfg.RouteVersion; v != nil {
		version = v()
	}
	if s.last.pid != nil && s.last.lun == t.Lun && s.last.target == t.Target && s.last.version == version {
		return s.last.pid
	}
	if s.cfg.ConnCfg.Route != nil {
		if pid := s.cfg.ConnCfg.Route(t.Target, t.Lun); pid != nil {
			s.last.target, s.last.lun, s.last.pid, s.last.version = t.Target, t.Lun, pid, version
			return pid
		}
	}
	return s.cfg.ConnCfg.Dispatcher
}

// reply sends o back to the connection as a CommandReady (the one the connection
// allocated with it, if any): released, or dropped.
func (s *sessionActor) reply(ctx actor.Context, o *pb.CommandOrder, exp uint32, dropped bool) {
	m := o.Ready
	if m == nil {
		m = &pb.CommandReady{}
	}
	m.Itt, m.Task, m.Dropped, m.ExpCmdSn = o.Itt, o.Task, dropped, exp
	ctx.Send(s.conn, m)
}

// otherAborted passes another nexus's TaskSetAborted to the connection, on a copy
// stamped with the session's ExpCmdSN: every command below it was released (to its
// LUN, or back to the connection for its Data-Out, by messages sent before this one,
// so the connection has them first); those behind a CmdSN gap are not yet in any task
// set and are left to run after the function.
func (s *sessionActor) otherAborted(ctx actor.Context, m *pb.TaskSetAborted) {
	ctx.Send(s.conn, &pb.TaskSetAborted{Target: m.Target, Luns: m.Luns, AllLuns: m.AllLuns, ByNexus: m.ByNexus,
		ExpCmdSn: s.window.Exp()})
}
