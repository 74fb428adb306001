package lun

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/atgt/atgt/actors/scsidev"
)

// LockOwner is what the ALUA model asks of a backend that one node at a time may
// write through: RBD's exclusive lock (backend.ExclusiveOwner has it). The call may
// block on the cluster, so only the poller goroutine makes it.
type LockOwner interface {
	IsLockOwner() (bool, error)
}

// ALUA is a LUN's part in the target's ALUA port groups: several atgtd nodes export
// the same logical unit, each as its own target port group.
//
// The model: with a LockOwner backend, the group of the node holding the lock is
// active/optimized and the others active/non-optimized. Every node serves IO: a write
// through a node without the lock makes librbd move the lock there (the owner
// finishes its writes in flight and hands it over; an owner that is dead is noticed
// when its watch times out, and its lock is broken and its client blocklisted, so
// none of its late writes can land). A node that does not hold the lock reports the
// other groups active/optimized: with two nodes that is exactly the owner. Without a
// LockOwner (files, memory) every group is active/optimized and stays so.
type ALUA struct {
	// Local is the id of the group this node serves; Groups are all groups' ids.
	Local  uint16
	Groups []uint16
	// Owner is the backend's lock; nil: static states.
	Owner LockOwner
	// Poll is how often the lock is looked at (default DefaultALUAPoll).
	Poll time.Duration
	// Hold is how long the lock must stay put before the states follow it
	// (default DefaultALUAHold).
	Hold time.Duration
}

// DefaultALUAPoll is how often a LUN asks its backend whether it holds the lock:
// the delay with which RTPG and the unit attention follow a move of the lock.
const DefaultALUAPoll = time.Second

// DefaultALUAHold is how long the lock must stay with a node before the reported
// states follow it: a client that writes through several nodes at once moves the
// lock at every write, and would otherwise get a unit attention for each move.
const DefaultALUAHold = 3 * time.Second

// lockFollower decides when the reported states follow the lock: once it has been
// seen with the same node for hold.
type lockFollower struct {
	hold    time.Duration
	seen    bool // the owner as last polled
	since   time.Time
	applied bool // the owner the states show
}

// observe records a poll at now and reports whether the states must now show owner.
func (f *lockFollower) observe(owner bool, now time.Time) bool {
	if owner != f.seen || f.since.IsZero() {
		f.seen, f.since = owner, now
	}
	if owner == f.applied || now.Sub(f.since) < f.hold {
		return false
	}
	f.applied = owner
	return true
}

// lockState is the poller's report: whether this node holds the backend's lock.
type lockState struct {
	owner bool
	err   error
}

// GroupStates is the state of every group when this node holds the lock (owner) or
// not.
func (a *ALUA) GroupStates(owner bool) map[uint16]scsidev.AccessState {
	out := make(map[uint16]scsidev.AccessState, len(a.Groups))
	for _, id := range a.Groups {
		local := id == a.Local
		if local == owner {
			out[id] = scsidev.ActiveOptimized
		} else {
			out[id] = scsidev.ActiveNonOptimized
		}
	}
	return out
}

// startALUA sets the states for a node that does not hold the lock yet, and starts
// the poller that reports the lock's owner to the actor.
func (l *lunActor) startALUA(ctx actor.Context) {
	a := l.cfg.ALUA
	if a == nil || a.Owner == nil {
		return
	}
	l.applyLock(false)
	hold := a.Hold
	if hold <= 0 {
		hold = DefaultALUAHold
	}
	l.follow = lockFollower{hold: hold}
	period := a.Poll
	if period <= 0 {
		period = DefaultALUAPoll
	}
	stop := make(chan struct{})
	l.stopALUA = stop
	root, self, owner := ctx.ActorSystem().Root, ctx.Self(), a.Owner
	go func() {
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				o, err := owner.IsLockOwner()
				root.Send(self, &lockState{owner: o, err: err})
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

// lockReport applies the poller's report. A failed look at the lock changes nothing:
// the states are hints, and IO goes on through librbd either way.
func (l *lunActor) lockReport(m *lockState) {
	if l.reopen.active {
		return // fenced: non-optimized until the backend is back (reopen.go)
	}
	if m.err != nil {
		l.cfg.Log.Warn("ALUA: cannot tell whether this node holds the lock", "lun", l.cfg.ID, "err", m.err)
		return
	}
	if l.follow.observe(m.owner, time.Now()) {
		l.applyLock(m.owner)
	}
}

func (l *lunActor) applyLock(owner bool) {
	changed := false
	for id, s := range l.cfg.ALUA.GroupStates(owner) {
		if l.cfg.Device.SetPortGroupState(id, s) {
			changed = true
		}
	}
	if changed {
		l.cfg.Log.Info("ALUA state changed", "lun", l.cfg.ID, "group", l.cfg.ALUA.Local, "lockOwner", owner)
	}
}
