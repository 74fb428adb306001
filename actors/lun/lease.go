package lun

import (
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/atgt/atgt/actors/prcluster"
	"github.com/atgt/atgt/messages/scsi"
)

// The lease, checked by the clock. A cluster store (cluster.go) puts this node
// in doubt by a message: its lease timer's, when no reread succeeded for
// StaleAfter. A writer that a node did not acknowledge answers once StaleAfter
// and a fifth have passed since its write, counting on that. But a message can
// be late: after a pause of the process (SIGSTOP, a frozen VM) the timer fires
// when the goroutines run again, racing the commands that waited in the
// socket and the LUN's mailbox; and a LUN actor that stalls has the store's
// Update, the very change that preempts a nexus, in its mailbox behind the
// commands it then runs on its old cache. So the LUN does not take the
// message's word alone. Before it admits a command (execute) and a worker
// before each backend call, the gate says no when
//
//   - the store's lease has run out by the monotonic clock (Store.LeaseEnd), or
//   - an Update the store sent has waited unapplied in the mailbox for longer
//     than a tenth of StaleAfter (the writer's margin is a fifth: an Update
//     sent before the lease ran out has waited at least a fifth when the writer
//     answers), or the lease as it was when the oldest such Update was sent
//     has run out (the store may renew its lease by the very reread that found
//     the change, and the commands ahead of the change in the mailbox must not
//     run on that renewal), or
//   - the LUN is in doubt or cut off from the cluster (set by the LUN as it
//     learns it), for IO handed to a worker before.
//
// The answer is the doubt's (unavailable.go): NOT READY, 04/0C on a gateway of
// several port groups, 04/01 without.
//
// The cost: a LUN with neither a cluster store nor port groups has no gate, and
// pays one nil check in execute and one per backend call in its workers. With a
// store, a check is one clock read (time.Since, vDSO) and three atomic loads; the
// store's lock is taken to renew the cached lease end once half of the lease is
// left (about every StaleAfter/2 - RereadEvery), or on every check once it has
// run out. A gateway without a store (port groups only) loads one atomic flag.

// leaseGraceDiv divides StaleAfter into how long an Update may wait unapplied.
const leaseGraceDiv = 10

// monoBase anchors the gate's clock: nanoseconds since it, on the monotonic clock.
var monoBase = time.Now()

func monoNow() int64 { return int64(time.Since(monoBase)) }

func monoOf(t time.Time) int64 { return int64(t.Sub(monoBase)) }

// leaseEndOf reads a store's lease; a variable so that a test can stand in for a
// process whose lease timer has not fired yet.
var leaseEndOf = func(s *prcluster.Store) (time.Time, time.Duration) { return s.LeaseEnd() }

// leaseGate is what the LUN and its workers consult before IO starts; nil for
// a LUN with neither a cluster store nor port groups.
type leaseGate struct {
	// doubt is set while the LUN is in doubt or cut off from the cluster.
	doubt atomic.Bool
	// end is the store's lease end as last read; renewAt when to read it again.
	end, renewAt atomic.Int64
	// pendingSince is when the oldest Update not yet applied was sent (0:
	// none), frozen the lease end known then.
	pendingSince, frozen atomic.Int64

	store       *prcluster.Store
	grace, half int64
	answer      *scsi.SenseError

	mu      sync.Mutex
	pending []sentUpdate
}

// sentUpdate is an Update on its way to the LUN's mailbox.
type sentUpdate struct {
	seq     uint64
	at, end int64
}

// newLeaseGate returns the gate of a LUN of cfg, or nil if it needs none.
func newLeaseGate(cfg Config) *leaseGate {
	gateway := cfg.ALUA != nil && len(cfg.ALUA.Groups) > 1
	if cfg.ClusterPR == nil && cfg.ALUA == nil {
		return nil
	}
	g := &leaseGate{answer: errNotReady, store: cfg.ClusterPR}
	if gateway {
		g.answer = errUnavailable
	}
	g.end.Store(math.MaxInt64)
	g.renewAt.Store(math.MaxInt64)
	if g.store != nil {
		_, stale := leaseEndOf(g.store)
		g.grace, g.half = int64(stale/leaseGraceDiv), int64(stale/2)
		g.renew()
	}
	return g
}

// refuses reports whether IO must not reach the backend now.
func (g *leaseGate) refuses() bool {
	return g.doubt.Load() || g.lapsed()
}

// lapsed reports whether the lease has run out by the clock, or an Update has
// waited too long (see above).
func (g *leaseGate) lapsed() bool {
	if g.store == nil {
		return false
	}
	now := monoNow()
	if p := g.pendingSince.Load(); p != 0 && (now-p > g.grace || now >= g.frozen.Load()) {
		return true
	}
	if now < g.renewAt.Load() {
		return false
	}
	return now >= g.renew()
}

// renew reads the store's lease end and returns it; the cached end only moves
// forward (a concurrent renewal may have read a later one).
func (g *leaseGate) renew() int64 {
	t, _ := leaseEndOf(g.store)
	e := monoOf(t)
	for {
		old := g.end.Load()
		if old != math.MaxInt64 && e <= old {
			return old
		}
		if g.end.CompareAndSwap(old, e) {
			g.renewAt.Store(e - g.half)
			return e
		}
	}
}

// sent notes an Update the store is sending the LUN; called on the store's
// goroutines (some with the store's lock held: it must not call the store).
func (g *leaseGate) sent(u *prcluster.Update) {
	now := monoNow()
	g.mu.Lock()
	defer g.mu.Unlock()
	end := g.end.Load()
	if len(g.pending) == 0 {
		g.frozen.Store(end)
		g.pendingSince.Store(now)
	}
	g.pending = append(g.pending, sentUpdate{seq: u.Seq(), at: now, end: end})
}

// applied notes that the LUN has applied the Update numbered seq.
func (g *leaseGate) applied(seq uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for i, p := range g.pending {
		if p.seq == seq {
			g.pending = append(g.pending[:i], g.pending[i+1:]...)
			break
		}
	}
	if len(g.pending) == 0 {
		g.pendingSince.Store(0)
		return
	}
	g.frozen.Store(g.pending[0].end)
	g.pendingSince.Store(g.pending[0].at)
}
