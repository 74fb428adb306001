package session

import (
	"github.com/asynkron/protoactor-go/actor"

	"github.com/atgt/atgt/actors/conn"
	"github.com/atgt/atgt/actors/dispatcher"
)

// Session reinstatement (RFC 7143 6.3.5): a login with the InitiatorName and ISID of
// a live session, and TSIH 0, ends the old session before the new one goes on. Both
// are the same I_T nexus to the LUNs, so the old one's tasks and its NexusLoss must
// all reach them before any task of the new one:
//
//  1. the manager tells the old session to end as a closed connection does (conn.End):
//     its connection sends a NexusLoss for what it holds and the session, as it
//     stops, one after the tasks it sent its LUNs itself (session.go, Receive);
//  2. every new session holds its commands until the manager says proceed, which it
//     does once no older session of its key is still ending and a dispatcher Flush
//     has come back, so that those NexusLosses are in the LUNs' mailboxes ahead of
//     the new session's first task.
//
// A LUN therefore ends the old nexus's tasks and forgets its unit attentions before
// the new session's first command, which sees POWER ON, RESET once.

// hold is a logged-in session waiting for proceed.
type hold struct {
	pid      *actor.PID
	key      string
	flushing bool // a Flush for it is with the dispatcher
}

// coldReset tells the manager that a session's TARGET COLD RESET completed: every
// other session of target ends (RFC 7143 11.5.1); from ends itself.
type coldReset struct {
	target string
	from   *actor.PID
}

// up admits a logged-in session (its connection then sends the final Login
// Response), records it, ends an older one of its key, and lets it proceed when it
// may. A session whose target had a TARGET COLD RESET after its connection was
// accepted is refused instead: the reset closes every connection to the target
// (RFC 7143 11.5.1), and this one was open, logging in, when it ran. The manager
// takes Ups and resets one at a time, so a session is either refused here or
// listed before the reset and ended by it: no login slips between the two.
func (m *manager) up(ctx actor.Context, msg *Up) {
	if m.resetDuringLogin(msg) {
		why := m.resetWhy[msg.Info.Target] + " during login"
		m.log.Info(why+": refusing the session", "session", msg.PID.Id, "target", msg.Info.Target)
		ctx.Send(msg.PID, &conn.Admit{Refused: why})
		return
	}
	if msg.TSIH != 0 {
		m.reinstateConnection(ctx, msg)
		return
	}
	ctx.Send(msg.PID, &conn.Admit{})
	m.cid[msg.PID.Id] = msg.CID
	if old, ok := m.byKey[msg.Key]; ok && !old.Equal(msg.PID) {
		m.log.Info("session reinstatement: ending the previous session of this initiator port", "old", old.Id)
		delete(m.held, old.Id) // its commands are never released
		m.ending[old.Id] = msg.Key
		ctx.Send(old, &conn.End{Reason: "session reinstated"})
	}
	m.byKey[msg.Key] = msg.PID
	m.keyOf[msg.PID.Id] = msg.Key
	if msg.Info != nil {
		m.info[msg.PID.Id], m.pids[msg.PID.Id] = msg.Info, msg.PID
	}
	m.held[msg.PID.Id] = &hold{pid: msg.PID, key: msg.Key}
	m.release(ctx, msg.Key)
}

// release starts the Flush of the sessions of key that wait, unless an older session
// of key is still ending.
func (m *manager) release(ctx actor.Context, key string) {
	for _, k := range m.ending {
		if k == key {
			return
		}
	}
	d := m.connCfg.Dispatcher
	for id, h := range m.held {
		if h.key != key || h.flushing {
			continue
		}
		if d == nil { // nothing reaches a LUN but directly
			delete(m.held, id)
			ctx.Send(h.pid, &proceed{})
			continue
		}
		h.flushing = true
		ctx.Send(d, &dispatcher.Flush{ReplyTo: ctx.Self(), Tag: h.pid})
	}
}

// flushed lets the session a Flush was for proceed.
func (m *manager) flushed(ctx actor.Context, msg *dispatcher.Flushed) {
	if h, ok := msg.Tag.(*handover); ok {
		m.admitContinued(ctx, h)
		return
	}
	pid, ok := msg.Tag.(*actor.PID)
	if !ok {
		return
	}
	if h, ok := m.held[pid.Id]; ok && h.flushing {
		delete(m.held, pid.Id)
		ctx.Send(pid, &proceed{})
	}
}

// endingDone notes that a session ended; the sessions of its key that waited for it
// may proceed.
func (m *manager) endingDone(ctx actor.Context, who *actor.PID) {
	key, ok := m.ending[who.Id]
	if !ok {
		return
	}
	delete(m.ending, who.Id)
	m.release(ctx, key)
}

// rehold flushes again for every waiting session, after a failure of the manager
// may have lost a Terminated or a Flushed.
func (m *manager) rehold(ctx actor.Context) {
	keys := map[string]bool{}
	for _, h := range m.held {
		h.flushing = false
		keys[h.key] = true
	}
	for k := range keys {
		m.release(ctx, k)
	}
}

// coldReset ends every session of the target but the one that asked, and notes
// when the reset ran, so that a session of the target still logging in is refused
// when its login completes (see up).
func (m *manager) coldReset(ctx actor.Context, msg *coldReset) {
	m.endedAll(msg.target, "target cold reset")
	n := 0
	for id, in := range m.info {
		pid := m.pids[id]
		if pid == nil || pid.Equal(msg.from) || in.Discovery || in.Target != msg.target {
			continue
		}
		n++
		ctx.Send(pid, &conn.End{Reason: "target cold reset"})
	}
	m.log.Info("target cold reset: closing the target's sessions", "target", msg.target, "sessions", n)
}

// endedAll notes that every session of target ends now, for why: a login in
// progress to it is refused when it completes (resetDuringLogin).
func (m *manager) endedAll(target, why string) {
	m.clock++
	m.resetAt[target] = m.clock
	m.resetWhy[target] = why
}

// resetDuringLogin reports whether the target msg's session logged in to had all
// its sessions ended (endedAll) after the session's connection was accepted.
func (m *manager) resetDuringLogin(msg *Up) bool {
	in := msg.Info
	if in == nil || in.Discovery {
		return false
	}
	at, ok := m.resetAt[in.Target]
	born, known := m.born[msg.PID.Id]
	return ok && known && at > born
}
