package session

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/atgt/atgt/actors/conn"
	"github.com/atgt/atgt/actors/dispatcher"
	"github.com/atgt/atgt/actors/login"
)

// Connection reinstatement (RFC 7143 6.3.4): a login with the InitiatorName, ISID,
// TSIH and CID of a live session's connection logs that connection out implicitly and
// goes on with the same session over the new one. At ErrorRecoveryLevel 0 "all the
// tasks that were active on the old CID must be immediately terminated without
// further notice to the initiator"; the session (the I_T nexus) is not closed, so no
// I_T nexus loss is reported for it (6.3.5.1 lists the events that report one:
// session reinstatement, closure and timeout). This target runs one connection per
// session and one session actor per connection, so the new connection's session
// actor takes over the old one's window:
//
//  1. the manager checks the login against the session its TSIH names (Up with a
//     TSIH) and tells the old session to hand over (replace); the TSIH passes to
//     the new session at once, so no other login can name it meanwhile;
//  2. the old session ends its connection as a reinstated one (conn.End, Replaced):
//     the connection's NexusLoss, and the session's own, carry ConnectionOnly, so
//     each LUN ends that connection's tasks as for a closed connection and keeps the
//     nexus's unit attentions and reservations; stopping, the old session sends its
//     ExpCmdSN (handedOver) after its NexusLoss. A connection that ended on its own
//     first (its socket closed) told the LUNs the nexus is lost: then the session
//     hands nothing over, and the login is refused "session does not exist";
//  3. the manager flushes the dispatcher behind those NexusLosses, then admits the
//     new connection with the session's TSIH, ExpCmdSN and parameters (conn.Admit
//     with Continue): its final Login Response goes out only now, so no task of the
//     old connection is still waiting at a LUN ahead of the new connection's first
//     command, and no answer of one can reach the new connection (tasks carry their
//     own connection's PID).
//
// A login naming a TSIH no live session holds, or a session of another initiator
// port or target, is refused "session does not exist" (0x020A); one naming another
// CID than the session's connection would add a connection, which MaxConnections=1
// forbids: "too many connections" (0x0206).

// replace tells a session that a connection reinstatement replaces its connection.
type replace struct{}

// handedOver is a replaced session's last word, sent as it stops, after its
// NexusLoss: its ExpCmdSN.
type handedOver struct {
	pid *actor.PID
	exp uint32
}

// oldGone: a session being replaced has stopped. The manager sends it to itself
// when Terminated comes, since Terminated (a system message) may overtake the
// session's handedOver; this one arrives behind it.
type oldGone struct{ id string }

// handover is a connection reinstatement in progress, by the old session's PID id.
type handover struct {
	old, new *actor.PID
	key      string
	tsih     uint16
	cid      uint16
	cmdSN    uint32 // the login's
	info     *Info  // the new session's, with the session's TSIH
	params   login.Params
	since    time.Time
	exp      uint32 // the old session's ExpCmdSN, once handed
	handed   bool
}

// reinstateConnection answers the Up of a login that named a TSIH.
func (m *manager) reinstateConnection(ctx actor.Context, msg *Up) {
	refuse := func(st login.Status, why string) {
		m.log.Info("connection reinstatement refused", "reason", why, "session", msg.PID.Id, "tsih", msg.TSIH,
			"cid", msg.CID)
		ctx.Send(msg.PID, &conn.Admit{Refused: why, Status: st})
	}
	old := m.byTSIH(msg.TSIH)
	var was *Info
	oldID := ""
	if old != nil {
		was, oldID = m.info[old.Id], old.Id
	}
	in := msg.Info
	_, ending := m.ending[oldID]
	_, held := m.held[oldID]
	switch {
	case was == nil || in == nil:
		refuse(login.SessionDoesNotExist, "no session has this TSIH")
	case was.Initiator != in.Initiator || was.ISID != in.ISID || was.Target != in.Target || was.Discovery != in.Discovery:
		refuse(login.SessionDoesNotExist, "the session with this TSIH is another initiator port's or target's")
	case ending || held || m.replacing[old.Id] != nil:
		refuse(login.SessionDoesNotExist, "the session with this TSIH is ending or not yet started")
	case m.cid[old.Id] != msg.CID:
		refuse(login.TooManyConnections, "a second connection (another CID) for a session: MaxConnections is 1")
	default:
		info := *in
		info.TSIH = msg.TSIH
		h := &handover{old: old, new: msg.PID, key: msg.Key, tsih: msg.TSIH, cid: msg.CID, cmdSN: msg.CmdSN,
			info: &info, params: was.Params, since: was.Since}
		m.replacing[old.Id] = h
		if t, ok := m.tsihOf[msg.PID.Id]; ok {
			m.tsih.free(t)
		}
		m.tsihOf[msg.PID.Id] = msg.TSIH
		delete(m.tsihOf, old.Id)
		// The key passes too: a login with the same ISID and TSIH 0 from now on
		// reinstates the session (ending the new connection's), and waits for the
		// old one to end first.
		delete(m.keyOf, old.Id)
		m.byKey[msg.Key] = msg.PID
		m.keyOf[msg.PID.Id] = msg.Key
		m.ending[old.Id] = msg.Key
		m.log.Info("connection reinstatement: ending the session's connection", "old", old.Id, "new", msg.PID.Id,
			"tsih", msg.TSIH, "cid", msg.CID)
		ctx.Send(old, &replace{})
	}
}

// byTSIH returns the session holding tsih, or nil.
func (m *manager) byTSIH(tsih uint16) *actor.PID {
	for id, t := range m.tsihOf {
		if t == tsih {
			if p := m.pids[id]; p != nil {
				return p
			}
			return actor.NewPID("", id)
		}
	}
	return nil
}

// handedOver flushes the dispatcher behind the replaced session's NexusLosses; the
// new connection is admitted when the Flush comes back (admitContinued).
func (m *manager) handedOver(ctx actor.Context, msg *handedOver) {
	h := m.replacing[msg.pid.Id]
	if h == nil || h.handed {
		return
	}
	h.handed, h.exp = true, msg.exp
	if d := m.connCfg.Dispatcher; d != nil {
		ctx.Send(d, &dispatcher.Flush{ReplyTo: ctx.Self(), Tag: h})
		return
	}
	m.admitContinued(ctx, h)
}

// oldGone refuses the new connection of a reinstatement whose old session stopped
// without handing over (it failed, or its connection ended on its own first): the
// session is gone.
func (m *manager) oldGone(ctx actor.Context, id string) {
	h := m.replacing[id]
	if h == nil || h.handed {
		return
	}
	delete(m.replacing, id)
	m.log.Info("connection reinstatement refused: the session ended first", "session", h.new.Id, "tsih", h.tsih)
	ctx.Send(h.new, &conn.Admit{Refused: "the session ended before its connection could be reinstated",
		Status: login.SessionDoesNotExist})
}

// admitContinued lets the new connection go on with the session: the final Login
// Response with the session's TSIH and window, then its commands.
func (m *manager) admitContinued(ctx actor.Context, h *handover) {
	delete(m.replacing, h.old.Id)
	if _, alive := m.born[h.new.Id]; !alive {
		return // the new connection ended meanwhile
	}
	if m.resetDuringLogin(&Up{PID: h.new, Info: h.info}) {
		why := m.resetWhy[h.info.Target] + " during login"
		ctx.Send(h.new, &conn.Admit{Refused: why})
		return
	}
	exp := continuedExpCmdSN(h.exp, h.cmdSN, m.connCfg.QueueDepth)
	ctx.Send(h.new, &conn.Admit{Continue: &conn.Continue{TSIH: h.tsih, ExpCmdSN: exp, Params: h.params}})
	h.info.Params = login.Continued(h.info.Params, h.params)
	h.info.Since = h.since
	m.info[h.new.Id], m.pids[h.new.Id] = h.info, h.new
	m.cid[h.new.Id] = h.cid
	ctx.Send(h.new, &proceed{})
	m.log.Info("connection reinstated", "session", h.new.Id, "tsih", h.tsih, "cid", h.cid, "exp_cmdsn", exp)
}

// continuedExpCmdSN is the ExpCmdSN a reinstated connection starts with: the
// session's, exp. The login carries the next CmdSN the initiator will use (RFC 7143
// 11.12.8); if it is ahead of exp, within the window (at most depth ahead: no
// command beyond MaxCmdSN was allowed), the CmdSNs between were carried by commands
// lost with the old connection, whose tasks are terminated with it (6.3.4), and the
// window moves past them rather than wait for commands that cannot come.
func continuedExpCmdSN(exp, loginCmdSN, depth uint32) uint32 {
	if d := loginCmdSN - exp; d != 0 && d <= depth {
		return loginCmdSN
	}
	return exp
}

// continues makes the session the one a reinstated connection continues: its TSIH
// and window (the manager's Admit, on its way to the connection).
func (s *sessionActor) continues(k *conn.Continue) {
	s.window.Start(k.ExpCmdSN)
	s.cfg.TSIH = k.TSIH
	s.log = s.cfg.Log.With("tsih", k.TSIH)
}

// resyncReplacing drops the reinstatements whose new session is gone and refuses
// those whose old one stopped without handing over.
func (m *manager) resyncReplacing(ctx actor.Context, live map[string]bool) {
	for id, h := range m.replacing {
		switch {
		case !live[h.new.Id]:
			delete(m.replacing, id)
		case !live[id]:
			m.oldGone(ctx, id)
		}
	}
}
