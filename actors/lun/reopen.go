package lun

import (
	"errors"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/atgt/atgt/backend"
)

// A LUN whose backend the cluster fenced off (RBD: this gateway's RADOS client
// blocklisted, because another gateway broke the exclusive lock of a node that had
// stopped answering, or by an administrator) comes back by itself, without letting
// any write it held from before the fence land.
//
// The backend fails what was in flight on the fenced client and refuses every later
// call (backend.ErrFenced). The danger is what this node still holds that the backend
// has not seen yet: commands read from a connection after the node woke up may have
// been sent long before, by an initiator that gave up on them and wrote newer data
// through another gateway; they may sit in a socket's receive buffer, in the LUN's
// queues, or in a worker about to call the backend. So, in order:
//
//  1. Fenced: every command that needs the backend is answered NOT READY: on a
//     gateway of several port groups TARGET PORT IN UNAVAILABLE STATE (04/0C), its
//     group shown unavailable, so that initiators go through another gateway at
//     once (unavailable.go); without port groups LOGICAL UNIT IS IN PROCESS OF
//     BECOMING READY (04/01), which initiators retry after a delay.
//  2. Every session of the target on this node is ended at once (its connection
//     closed, unread commands with it), through Reopen.EndSessions.
//  3. Once they have ended and the workers hold no command admitted before, the
//     backend reconnects (a new client, retried with backoff), off the actor.
//  4. Reopened: commands run again, from sessions that logged in anew. The ALUA
//     states show the lock's holder as a look made on the new client found it,
//     before the first command is served and without the hold: while fenced the
//     node could not look, and its guess (its own group non-optimized, the others
//     optimized) shows two optimized groups among three. The lock is not held; the
//     next write through this node takes it back, and the ALUA states follow as
//     after a fail back.
//
// A command answered NOT READY never reached the store, so an initiator that
// retries it writes its own current data. The commands that failed on the fenced
// client stay failed (MEDIUM ERROR, as the backend reports them) and are never
// retried by the target.

// Reopen is what a LUN needs to come back after its backend was fenced off.
type Reopen struct {
	// Backend is the fenced backend (the store itself, under any wrappers).
	Backend backend.Fenceable
	// EndSessions ends every session of the target on this node and calls done
	// once all have ended; nil: none to end.
	EndSessions func(done func())
}

// reopenState is where the LUN is on its way back.
type reopenState struct {
	active  bool // fenced: commands are answered NOT READY
	round   uint64
	ended   bool // the sessions of before the fence have ended
	started bool // Reconnect is running
	since   time.Time
	stop    chan struct{}
}

// backendFenced: the backend found itself fenced.
type backendFenced struct{ cause error }

// sessionsEnded: the sessions of before the fence of round have ended (late: or
// endSessionsWait passed first).
type sessionsEnded struct {
	round uint64
	late  bool
}

// endSessionsWait bounds the wait for the sessions to end: their connections are
// closed at once, so only a lost message could make it longer, and the LUN must not
// stay NOT READY for ever because of one.
const endSessionsWait = 30 * time.Second

// reopened: Reconnect of round returned; lock is the look at the lock made on the
// new client (nil: no lock model, or Reconnect failed).
type reopened struct {
	round uint64
	err   error
	lock  *lockState
}

// attachReopen has the backend's fence reported to the actor.
func (l *lunActor) attachReopen(ctx actor.Context) {
	if l.cfg.Reopen == nil || l.cfg.Reopen.Backend == nil {
		return
	}
	root, self := ctx.ActorSystem().Root, ctx.Self()
	l.cfg.Reopen.Backend.OnFenced(func(cause error) { root.Send(self, &backendFenced{cause: cause}) })
}

// endReopen stops a reconnection in progress (the LUN stops).
func (l *lunActor) endReopen() {
	if l.reopen.stop != nil {
		close(l.reopen.stop)
		l.reopen.stop = nil
	}
}

// backendFenced starts the way back (steps 1 and 2).
func (l *lunActor) backendFenced(ctx actor.Context, m *backendFenced) {
	r := &l.reopen
	if r.active {
		return
	}
	r.round++
	*r = reopenState{active: true, round: r.round, since: time.Now()}
	l.cfg.Log.Warn("backend fenced off by the cluster: answering NOT READY, ending this target's sessions, then reopening",
		"lun", l.cfg.ID, "backend", l.cfg.Reopen.Backend, "cause", m.cause)
	if a := l.cfg.ALUA; a != nil && a.Owner != nil {
		l.follow = lockFollower{hold: l.follow.hold}
	}
	l.showAvailability()
	root, self, round := ctx.ActorSystem().Root, ctx.Self(), r.round
	if end := l.cfg.Reopen.EndSessions; end != nil {
		end(func() { root.Send(self, &sessionsEnded{round: round}) })
		time.AfterFunc(endSessionsWait, func() { root.Send(self, &sessionsEnded{round: round, late: true}) })
		return
	}
	r.ended = true
	l.tryReopen(ctx)
}

// sessionsEnded notes step 2 done.
func (l *lunActor) sessionsEnded(ctx actor.Context, m *sessionsEnded) {
	if r := &l.reopen; r.active && m.round == r.round && !r.ended {
		if m.late {
			l.cfg.Log.Warn("the target's sessions did not all end in time; reopening the backend anyway", "lun", l.cfg.ID,
				"after", endSessionsWait)
		}
		r.ended = true
		l.tryReopen(ctx)
	}
}

// tryReopen reconnects (step 3) once the sessions have ended and the workers are idle
// (if they are not, their drained message calls again).
func (l *lunActor) tryReopen(ctx actor.Context) {
	r := &l.reopen
	if !r.active || !r.ended || r.started || !l.order.quiet() {
		return
	}
	r.started = true
	r.stop = make(chan struct{})
	root, self, round, stop := ctx.ActorSystem().Root, ctx.Self(), r.round, r.stop
	f, log, id := l.cfg.Reopen.Backend, l.cfg.Log, l.cfg.ID
	l.cfg.Log.Info("sessions ended and commands drained; reopening the backend on a new client", "lun", id,
		"after", time.Since(r.since).Round(time.Millisecond))
	a := l.cfg.ALUA
	go func() {
		err := f.Reconnect(stop, func(err error, next time.Duration) {
			log.Warn("reopening the backend failed; trying again", "lun", id, "backend", f, "err", err, "next", next)
		})
		m := &reopened{round: round, err: err}
		if err == nil && a != nil && a.Owner != nil {
			at := time.Now()
			o, err := a.look()
			m.lock = &lockState{owner: o, at: at, err: err}
		}
		root.Send(self, m)
	}()
}

// reopenDone ends the way back (step 4).
func (l *lunActor) reopenDone(m *reopened) {
	r := &l.reopen
	if !r.active || m.round != r.round {
		return
	}
	if m.err != nil {
		l.cfg.Log.Warn("backend not reopened", "lun", l.cfg.ID, "backend", l.cfg.Reopen.Backend, "err", m.err)
		return
	}
	l.cfg.Log.Warn("backend reopened on a new client: serving again", "lun", l.cfg.ID, "backend", l.cfg.Reopen.Backend,
		"after", time.Since(r.since).Round(time.Millisecond))
	*r = reopenState{round: r.round}
	l.contact.since, l.contact.cut = time.Now(), false // the reopen reached the cluster
	if l.gate != nil {
		l.gate.doubt.Store(l.prDoubt)
	}
	if lk := m.lock; lk != nil && lk.err == nil {
		// What the states showed since the fence was a guess, not a lock that
		// was followed: no hold.
		l.follow = lockFollower{hold: l.follow.hold, seen: lk.owner, since: lk.at, applied: lk.owner}
		l.applyLock(lk.owner)
	}
	l.showAvailability() // without a look: the state of before the fence
}

// fencedAnswer turns a backend's ErrFenced into NOT READY (04/01): the call never
// reached the store, and the command may be retried once the LUN has reopened it.
func fencedAnswer(err error) error {
	if err != nil && errors.Is(err, backend.ErrFenced) {
		return errNotReady
	}
	return err
}
