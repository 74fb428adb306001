package lun

import (
	"errors"
	"time"
)

// A node cut off from the cluster must not go on claiming a state.
//
// Each look at the lock is a read from the cluster (gateway.Locator asks the image's
// header who holds the lock, also when librbd says it is this node: librbd's own
// answer is local, and a node cut off from the cluster cannot learn that the lock
// was broken and its client blocklisted). When no look has succeeded for the bound
// (ALUA.Stale, DefaultALUAStale), failed and blocked looks alike (a look that is
// still waiting for the cluster is reported at every period: errLookBlocked), the
// node stops claiming: its own group is reported unavailable, the others as they
// were (it does not guess who holds the lock), and every command but INQUIRY,
// REPORT LUNS, REQUEST SENSE and the MAINTENANCE IN reports, TEST UNIT READY
// included, is answered NOT READY, TARGET PORT IN UNAVAILABLE STATE (04/0C), so
// that initiators send it, and the IO after it, through the other nodes at once
// (unavailable.go). The first look that reaches the cluster again ends it, and
// the owner it found is shown at once.
//
// The bound is a trade: a shorter one fails paths over on a cluster that is only
// slow; a longer one leaves IO going to a node that cannot serve it. A gateway's lock
// can only be taken from a cut-off owner after the cluster's watch timeout (osd
// client watch timeout, 30 s by default), and IO through the cut-off node cannot
// complete anyway, so the default matches the implicit transition time the LU
// reports (30 s): a cluster that answers no look for that long is not serving IO
// either.

// DefaultALUAStale is how long a node may go without reaching the cluster before it
// stops claiming a state (see above).
const DefaultALUAStale = 30 * time.Second

// errLookBlocked reports a look still waiting for the cluster when the next poll
// was due.
var errLookBlocked = errors.New("ALUA: the look at the lock is still waiting for the cluster")

// clusterContact tracks the poller's looks.
type clusterContact struct {
	bound time.Duration
	since time.Time // the last look that succeeded (the start before the first)
	cut   bool      // no look succeeded for bound: claiming nothing
	first bool      // no look has succeeded since the start
}

// staleBound is Stale or its default, and at least three polls.
func (a *ALUA) staleBound(period time.Duration) time.Duration {
	b := a.Stale
	if b <= 0 {
		b = DefaultALUAStale
	}
	return max(b, 3*period)
}

// lookFailed counts a failed or blocked look, and stops the claim once no look
// succeeded for the bound.
func (l *lunActor) lookFailed(m *lockState) {
	c := &l.contact
	if c.cut || m.at.Sub(c.since) < c.bound {
		return
	}
	c.cut = true
	l.cfg.Log.Warn("ALUA: the cluster has not answered a look at the lock: reporting this node unavailable "+
		"and answering NOT READY until it does", "lun", l.cfg.ID, "since", c.since.Round(time.Millisecond),
		"bound", c.bound, "err", m.err)
	l.follow = lockFollower{hold: l.follow.hold}
	l.showAvailability()
}

// lookSucceeded notes a look that reached the cluster; it reports whether the owner
// found is to be shown at once (the first look since the start or since the claim
// was stopped).
func (l *lunActor) lookSucceeded(m *lockState) bool {
	c := &l.contact
	if m.at.After(c.since) {
		c.since = m.at
	}
	wasCut, first := c.cut, c.first
	c.cut, c.first = false, false
	if wasCut {
		l.cfg.Log.Warn("ALUA: the cluster answers again: serving", "lun", l.cfg.ID, "owner", m.owner)
	}
	return wasCut || first
}
