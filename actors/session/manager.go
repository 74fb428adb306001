package session

import (
	"fmt"
	"net"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/go-hclog"

	"github.com/atgt/atgt/actors/conn"
	"github.com/atgt/atgt/actors/dispatcher"
	"github.com/atgt/atgt/actors/sched"
	"github.com/atgt/atgt/actors/supervise"
	pb "github.com/atgt/atgt/messages/atgtv1"
)

// Accepted hands a newly accepted TCP connection to the session manager. At is when
// it was accepted (the login timeout counts from it; zero: from now).
type Accepted struct {
	Conn net.Conn
	At   time.Time
}

// LogoutAll asks every session's initiator to log out within Within (the target is
// stopping).
type LogoutAll struct{ Within time.Duration }

// abortOthers asks the manager to tell every session but from that a task
// management function of from's nexus aborted the task sets m names.
type abortOthers struct {
	m    *pb.TaskSetAborted
	from *actor.PID
}

// otherAborted tells a session that another nexus's function aborted the task sets m
// names (m is shared by every session and not changed).
type otherAborted struct{ m *pb.TaskSetAborted }

// CountSessions asks the manager how many sessions are alive (logged in or logging
// in); it answers Sessions.
type CountSessions struct{}

// Sessions answers CountSessions.
type Sessions struct{ N int }

// Resync tells a session manager that was resumed after a failure to drop what it
// holds about sessions that are no longer its children: the failure may have cut short
// the bookkeeping of one that ended.
type Resync struct{}

// ManagerProps returns the session manager's props: it gives each accepted connection
// a session (with a TSIH no live session holds) and ends an older session when an
// initiator port logs in again with the same ISID (session reinstatement, reinstate.go).
// Its sessions are its children,
// supervised by sessionStrategy. Its own supervisor resumes it on failure rather than
// restarting it (protoactor stops a restarting actor's children, which would end every
// session), after answering the message it failed on with ManagerFailed.
func ManagerProps(connCfg conn.Config, log hclog.Logger) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor { return newManager(connCfg, log) },
		actor.WithSupervisor(&sessionStrategy{log: log}), actor.WithDispatcher(sched.Default))
}

// newManager is a session manager with no sessions yet.
func newManager(connCfg conn.Config, log hclog.Logger) *manager {
	return &manager{connCfg: connCfg, log: log, byKey: map[string]*actor.PID{}, keyOf: map[string]string{},
		info: map[string]*Info{}, pids: map[string]*actor.PID{}, tsihOf: map[string]uint16{},
		held: map[string]*hold{}, ending: map[string]string{}, born: map[string]uint64{}, resetAt: map[string]uint64{},
		resetWhy: map[string]string{}, cid: map[string]uint16{}, replacing: map[string]*handover{}}
}

type manager struct {
	connCfg conn.Config
	log     hclog.Logger
	tsih    tsihs
	tsihOf  map[string]uint16 // session PID id -> its TSIH
	byKey   map[string]*actor.PID
	keyOf   map[string]string // session PID id -> key
	// held are the logged-in sessions not yet told to proceed, ending the sessions
	// told to end for a reinstatement (PID id -> key), both by PID id.
	held   map[string]*hold
	ending map[string]string
	// info and pids describe the logged-in sessions by PID id, for the admin API.
	info map[string]*Info
	pids map[string]*actor.PID
	// logouts are the admin's Logouts still waiting for sessions to end.
	logouts []*logoutWait
	// clock counts accepted connections, TARGET COLD RESETs and the admin's
	// Logouts of a whole target, in the order the manager took them: born is when
	// each session's connection was accepted (by PID id), resetAt when each target
	// (by name) last had all its sessions ended, and resetWhy why.
	clock    uint64
	born     map[string]uint64
	resetAt  map[string]uint64
	resetWhy map[string]string
	// cid is each logged-in session's connection's CID, replacing the connection
	// reinstatements in progress by the old session's PID id (connreinstate.go).
	cid       map[string]uint16
	replacing map[string]*handover
}

// Receive handles accepted connections and session lifecycle.
func (m *manager) Receive(ctx actor.Context) {
	if m.admin(ctx, ctx.Message()) {
		return
	}
	switch msg := ctx.Message().(type) {
	case *Accepted:
		tsih, ok := m.tsih.take()
		if !ok {
			m.log.Warn("every TSIH is in use; closing the connection", "remote", msg.Conn.RemoteAddr().String())
			msg.Conn.Close()
			return
		}
		pid := ctx.Spawn(Props(Config{Conn: msg.Conn, AcceptedAt: msg.At, ConnCfg: m.connCfg, TSIH: tsih, Manager: ctx.Self(), Log: m.log}))
		m.tsihOf[pid.Id] = tsih
		m.clock++
		m.born[pid.Id] = m.clock
	case *Up:
		m.up(ctx, msg)
	case *dispatcher.Flushed:
		m.flushed(ctx, msg)
	case *coldReset:
		m.coldReset(ctx, msg)
	case *abortOthers:
		// One I_T nexus's function aborted a task set every nexus shares (TST=000):
		// every other session learns it; each skips a target not its own. The
		// asker may send its next one (tellOthers): first, so that a failure here
		// cannot leave it waiting.
		ctx.Send(msg.from, othersToldMsg)
		for _, pid := range ctx.Children() {
			if !pid.Equal(msg.from) {
				ctx.Send(pid, &otherAborted{m: msg.m})
			}
		}
	case *LogoutAll:
		for _, pid := range ctx.Children() {
			ctx.Send(pid, &conn.RequestLogout{Within: msg.Within})
		}
	case *CountSessions:
		ctx.Respond(&Sessions{N: len(ctx.Children())})
	case *handedOver:
		m.handedOver(ctx, msg)
	case *oldGone:
		m.oldGone(ctx, msg.id)
	case *actor.Terminated:
		if h := m.replacing[msg.Who.Id]; h != nil && !h.handed {
			ctx.Send(ctx.Self(), &oldGone{id: msg.Who.Id}) // behind its handedOver, if any
		}
		m.forget(msg.Who)
		m.endingDone(ctx, msg.Who)
	case *Resync:
		m.resync(ctx.Children())
		m.rehold(ctx)
		m.resyncReplacing(ctx, liveSet(ctx.Children()))
	case *supervise.Crash:
		msg.Panic()
	}
}

// forget drops an ended session.
func (m *manager) forget(who *actor.PID) {
	delete(m.info, who.Id)
	delete(m.pids, who.Id)
	delete(m.held, who.Id)
	delete(m.born, who.Id)
	delete(m.cid, who.Id)
	if t, ok := m.tsihOf[who.Id]; ok {
		delete(m.tsihOf, who.Id)
		m.tsih.free(t)
	}
	m.ended(who.Id)
	if key, ok := m.keyOf[who.Id]; ok {
		delete(m.keyOf, who.Id)
		if p := m.byKey[key]; p != nil && p.Equal(who) {
			delete(m.byKey, key)
		}
	}
}

// liveSet is the ids of children.
func liveSet(children []*actor.PID) map[string]bool {
	live := make(map[string]bool, len(children))
	for _, c := range children {
		live[c.Id] = true
	}
	return live
}

// resync keeps only the sessions that are still children.
func (m *manager) resync(children []*actor.PID) {
	live := liveSet(children)
	for id := range m.keyOf {
		if !live[id] {
			m.forget(actor.NewPID("", id))
		}
	}
	for id := range m.tsihOf {
		if !live[id] {
			m.forget(actor.NewPID("", id))
		}
	}
	for id := range m.ending {
		if !live[id] {
			delete(m.ending, id)
		}
	}
	for id := range m.born {
		if !live[id] {
			delete(m.born, id)
		}
	}
	for key, p := range m.byKey {
		if !live[p.Id] {
			delete(m.byKey, key)
		}
	}
}

// ManagerFailed answers the message the session manager failed on (protoactor hands
// it to the supervisor's HandleFailure) and returns what it did, for the log. An
// accepted connection that got no session is closed, so that its initiator sees the
// connection end and logs in again rather than wait on a socket nobody reads. A lost
// Up leaves its connection waiting for Admit until holdLimit (or its login timeout),
// when it ends (its initiator logs in again). A lost Terminated or Flushed leaves an entry that Resync
// drops or a Flush that it sends again.
func ManagerFailed(log hclog.Logger, message any) string {
	switch m := message.(type) {
	case *Accepted:
		log.Warn("session manager failed on an accepted connection; closing it", "remote", m.Conn.RemoteAddr().String())
		m.Conn.Close()
		return "accepted connection closed"
	case *Up:
		log.Warn("session manager failed on a session's login; the session ends when its wait runs out", "session", m.PID.Id)
		return "session not let to start"
	case nil:
		return "no message in hand"
	}
	return fmt.Sprintf("%T needs no answer", message)
}
