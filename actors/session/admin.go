package session

import (
	"sort"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/atgt/atgt/actors/conn"
)

// The admin API reaches the sessions through these messages to the manager, sent from
// outside the actor tree; each answers through its Done callback, called once from the
// manager (so it must not block).

// List asks for the logged-in sessions (discovery sessions left out), by TSIH.
type List struct{ Done func([]*Info) }

// Logout asks sessions to log out: the one with TSIH (when non-zero), or every
// session of Target (when TSIH is 0; a login to Target in progress is then refused
// when it completes, as after a TARGET COLD RESET). Each gets an Asynchronous Message asking its
// initiator to log out within Within; one still there after Within is closed. Done
// hears how many sessions were asked and how many of them had to be closed, once all
// have ended; asked is 0 when none matched.
type Logout struct {
	TSIH   uint16
	Target string
	Within time.Duration
	Done   func(asked, closed int)
}

// logoutWait is a Logout whose sessions have not all ended.
type logoutWait struct {
	left          map[string]*actor.PID // by PID id
	asked, closed int
	done          func(asked, closed int)
}

// logoutDeadline closes the sessions of a logoutWait that are still there.
type logoutDeadline struct{ w *logoutWait }

// admin handles the admin messages; it reports whether m was one.
func (m *manager) admin(ctx actor.Context, msg any) bool {
	switch msg := msg.(type) {
	case *List:
		var out []*Info
		for id, in := range m.info {
			if _, live := m.keyOf[id]; live && !in.Discovery {
				out = append(out, in)
			}
		}
		sort.Slice(out, func(i, j int) bool { return out[i].TSIH < out[j].TSIH })
		msg.Done(out)
	case *Logout:
		m.logout(ctx, msg)
	case *logoutDeadline:
		for _, pid := range msg.w.left {
			msg.w.closed++
			ctx.Send(pid, &conn.End{Reason: "did not log out when asked by the administrator"})
		}
	default:
		return false
	}
	return true
}

// logout asks the matching sessions to log out and arms the deadline.
func (m *manager) logout(ctx actor.Context, msg *Logout) {
	w := &logoutWait{left: map[string]*actor.PID{}, done: msg.Done}
	if msg.TSIH == 0 {
		m.endedAll(msg.Target, "the administrator ended the target's sessions")
	}
	for id, in := range m.info {
		pid := m.pids[id]
		if pid == nil || in.Discovery || (msg.TSIH != 0 && in.TSIH != msg.TSIH) || (msg.TSIH == 0 && in.Target != msg.Target) {
			continue
		}
		w.left[id] = pid
		ctx.Send(pid, &conn.RequestLogout{Within: msg.Within})
	}
	w.asked = len(w.left)
	if w.asked == 0 {
		msg.Done(0, 0)
		return
	}
	m.logouts = append(m.logouts, w)
	root, self := ctx.ActorSystem().Root, ctx.Self()
	time.AfterFunc(msg.Within, func() { root.Send(self, &logoutDeadline{w: w}) })
}

// ended settles the logouts waiting for a session that ended.
func (m *manager) ended(id string) {
	kept := m.logouts[:0]
	for _, w := range m.logouts {
		delete(w.left, id)
		if len(w.left) == 0 {
			w.done(w.asked, w.closed)
			continue
		}
		kept = append(kept, w)
	}
	m.logouts = kept
}
