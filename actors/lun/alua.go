package lun

import (
	"errors"
	"slices"
	"syscall"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/atgt/atgt/actors/scsidev"
	"github.com/atgt/atgt/backend"
)

// LockOwner is what the ALUA model asks of a backend that one node at a time may
// write through: RBD's exclusive lock (backend.ExclusiveOwner has it). The call may
// block on the cluster, so only the poller goroutine makes it.
type LockOwner interface {
	IsLockOwner() (bool, error)
}

// OwnerLocator finds the port group whose node holds the lock (gateway.Locator):
// 0 when no node holds it, or none the locator knows. The call may block on the
// cluster, so only the poller goroutine makes it.
type OwnerLocator interface {
	OwnerGroup() (uint16, error)
}

// ALUA is a LUN's part in the target's ALUA port groups: several atgtd nodes export
// the same logical unit, each as its own target port group.
//
// The model: with a LockOwner backend, the group of the node holding the lock is
// active/optimized and the others active/non-optimized. Every node serves IO: a write
// through a node without the lock makes librbd move the lock there (the owner
// finishes its writes in flight and hands it over; an owner that is dead is noticed
// when its watch times out, and its lock is broken and its client blocklisted, so
// none of its late writes can land). With a Locate, every node learns which group
// holds the lock, so every node reports the same single active/optimized group.
// While no owner is known (the lock free, or no Locate and another node holds it) a
// node reports the other groups active/optimized and its own non-optimized. Without
// a LockOwner (files, memory) every group is active/optimized and stays so.
type ALUA struct {
	// Local is the id of the group this node serves; Groups are all groups' ids.
	Local  uint16
	Groups []uint16
	// Owner is the backend's lock; nil: static states.
	Owner LockOwner
	// Locate, if set, names the owner's group wherever it is; nil: this node
	// knows only whether it holds the lock.
	Locate OwnerLocator
	// Poll is how often the lock is looked at (default DefaultALUAPoll).
	Poll time.Duration
	// Hold is how long the lock must stay put before the states follow it
	// (default DefaultALUAHold).
	Hold time.Duration
	// Stale is how long the node may go without a look that reached the
	// cluster before it stops claiming a state (default DefaultALUAStale, at
	// least three polls; alua_contact.go).
	Stale time.Duration
}

// DefaultALUAPoll is how often a LUN asks its backend whether it holds the lock:
// the delay with which RTPG and the unit attention follow a move of the lock.
const DefaultALUAPoll = time.Second

// DefaultALUAHold is how long the lock must stay with a node before the reported
// states follow it: a client that writes through several nodes at once moves the
// lock at every write, and would otherwise get a unit attention for each move.
const DefaultALUAHold = 3 * time.Second

// lockFollower decides when the reported states follow the lock: once it has been
// seen with the same group (0: no owner known) for hold.
type lockFollower struct {
	hold    time.Duration
	seen    uint16 // the owner's group as last polled
	since   time.Time
	applied uint16 // the owner's group the states show
}

// holdSlack is how much shorter than the hold the span between two polls may be
// and still count as the hold (at most a quarter of it): polls come a whole period
// apart, give or take the timer's lateness, and a poll at 2.999 s must not make a
// 3 s hold wait a whole period more.
const holdSlack = 100 * time.Millisecond

// observe records a poll made at now that found owner's group holding the lock,
// and reports whether the states must now show it.
func (f *lockFollower) observe(owner uint16, now time.Time) bool {
	if owner != f.seen || f.since.IsZero() {
		f.seen, f.since = owner, now
	}
	if owner == f.applied || now.Sub(f.since) < f.hold-min(f.hold/4, holdSlack) {
		return false
	}
	f.applied = owner
	return true
}

// lockState is the poller's report: the group whose node holds the backend's lock,
// 0 if none is known, as polled at at.
type lockState struct {
	owner uint16
	at    time.Time
	err   error
}

// GroupStates is the state of every group when the node of group owner holds the
// lock: that group active/optimized, the others active/non-optimized. With no owner
// known (0, or a group not among Groups) this node cannot tell: its own group is
// non-optimized and the others optimized (with two nodes, exactly the owner if
// another node holds it).
func (a *ALUA) GroupStates(owner uint16) map[uint16]scsidev.AccessState {
	if !slices.Contains(a.Groups, owner) {
		owner = 0
	}
	out := make(map[uint16]scsidev.AccessState, len(a.Groups))
	for _, id := range a.Groups {
		optimized := id == owner || owner == 0 && id != a.Local
		if optimized {
			out[id] = scsidev.ActiveOptimized
		} else {
			out[id] = scsidev.ActiveNonOptimized
		}
	}
	return out
}

// look is one poll: the group holding the lock, found by Locate, or this node's
// own if it holds it.
func (a *ALUA) look() (uint16, error) {
	if a.Locate != nil {
		return a.Locate.OwnerGroup()
	}
	o, err := a.Owner.IsLockOwner()
	if err != nil || !o {
		return 0, err
	}
	return a.Local, nil
}

// startALUA sets the states for a node that does not hold the lock yet, and starts
// the poller that reports the lock's owner to the actor.
func (l *lunActor) startALUA(ctx actor.Context) {
	a := l.cfg.ALUA
	if a == nil || a.Owner == nil {
		return
	}
	// The device starts with every group active/optimized; this is its first
	// state, not a transition (no STATUS CODE 02h, no unit attention).
	for id, s := range a.GroupStates(0) {
		l.cfg.Device.InitPortGroupState(id, s)
	}
	hold := a.Hold
	if hold <= 0 {
		hold = DefaultALUAHold
	}
	l.follow = lockFollower{hold: hold}
	period := a.Poll
	if period <= 0 {
		period = DefaultALUAPoll
	}
	l.contact = clusterContact{bound: a.staleBound(period), since: time.Now(), first: true}
	stop := make(chan struct{})
	l.stopALUA = stop
	root, self := ctx.ActorSystem().Root, ctx.Self()
	// The first look is at once (a Locate publishes this node's client in it, for
	// the other nodes), then one every period; each report carries the time of its
	// poll, so that the hold is measured between polls, whatever the actor's
	// mailbox delays. A look runs on its own goroutine: one that blocks on a
	// cluster that does not answer is reported at every period it is still
	// pending (errLookBlocked), so the actor can tell how long this node has not
	// reached the cluster (alua_contact.go).
	go func() {
		t := time.NewTicker(period)
		defer t.Stop()
		done := make(chan *lockState, 1)
		at, pending := time.Now(), false
		for {
			if !pending {
				pending = true
				go func(at time.Time) {
					o, err := a.look()
					done <- &lockState{owner: o, at: at, err: err}
				}(at)
			}
			select {
			case m := <-done:
				pending = false
				root.Send(self, m)
				select {
				case at = <-t.C:
				case <-stop:
					return
				}
			case now := <-t.C:
				root.Send(self, &lockState{at: now, err: errLookBlocked})
			case <-stop:
				return
			}
		}
	}()
}

func (l *lunActor) endALUA() {
	if l.stopALUA != nil {
		close(l.stopALUA)
		l.stopALUA = nil
	}
}

// fencedOff reports whether err says the cluster fenced this node's client off
// (blocklisted: ESHUTDOWN, which Ceph calls EBLOCKLISTED) or the backend already
// knows it is (ErrFenced). The poller's look at the lock may see that before the
// backend's fence message reaches the LUN; it is no failure to warn of.
func fencedOff(err error) bool {
	return errors.Is(err, backend.ErrFenced) || errors.Is(err, syscall.ESHUTDOWN)
}

// lockReport applies the poller's report. A failed look at the lock changes nothing
// at first: the states are hints, and IO goes on through librbd either way; but a
// node that has not reached the cluster for the bound stops claiming anything
// (alua_contact.go).
func (l *lunActor) lockReport(ctx actor.Context, m *lockState) {
	if l.reopen.active {
		return // fenced: non-optimized until the backend is back (reopen.go)
	}
	if m.err != nil {
		l.lookFailed(m)
		l.setDoubt(ctx)
		if fencedOff(m.err) || errors.Is(m.err, errLookBlocked) {
			return // the cluster fenced this node off (reopen.go), or is slow: counted
		}
		l.cfg.Log.Warn("ALUA: cannot tell which node holds the lock", "lun", l.cfg.ID, "err", m.err)
		return
	}
	if l.lookSucceeded(m) {
		l.setDoubt(ctx)
		// The first look after the start, or after the cluster was out of
		// reach: what the states showed was a guess, not a lock that was
		// followed, so the owner found is shown at once (as reopenDone does).
		l.follow = lockFollower{hold: l.follow.hold, seen: m.owner, since: m.at, applied: m.owner}
		l.applyLock(m.owner)
		return
	}
	if l.follow.observe(m.owner, m.at) {
		l.applyLock(m.owner)
	}
}

// applyLock sets the states for the lock held by group owner (0: none known);
// this node's group stays unavailable while it may not serve (unavailable.go).
func (l *lunActor) applyLock(owner uint16) {
	changed := false
	for id, s := range l.cfg.ALUA.GroupStates(owner) {
		if id == l.cfg.ALUA.Local && l.unavailable() {
			s = scsidev.Unavailable
		}
		if l.cfg.Device.SetPortGroupState(id, s) {
			changed = true
		}
	}
	if changed {
		l.cfg.Log.Info("ALUA state changed", "lun", l.cfg.ID, "group", l.cfg.ALUA.Local, "lockOwnerGroup", owner)
	}
}
