package prcluster

import (
	"bytes"
	"errors"
	"time"

	"github.com/atgt/atgt/actors/reservation"
)

// Staleness. A node's cache is current as long as it gets every
// notification, and it cannot always know when it did not: a node cut off
// from the object's OSD while the OSD still counts its watch gets nothing
// and hears of no loss. So the time a node may serve a cache it has not
// checked is bounded:
//
//   - Every node rereads the object every RereadEvery, whatever happens, so
//     a change whose notification went astray reaches every node that can
//     read the object within RereadEvery.
//   - A node is in doubt when its watch is lost (until it watches again and
//     has reread), when a notification cannot be decoded (until a reread
//     brings the state; the notification is acknowledged only then), and
//     when no reread has succeeded for StaleAfter (its lease, counted from
//     when the last good reread was sent). A node in doubt rereads at once,
//     and its LUN answers every command that may touch the medium NOT READY,
//     LOGICAL UNIT IS IN PROCESS OF BECOMING READY (initiators retry it, and
//     multipath tries another path), whatever its cache says: the change it
//     missed may be the very reservation that makes a command conflict.
//   - A writer that cannot confirm every node's acknowledgement waits until
//     StaleAfter plus a margin has passed since its write landed, and only
//     then answers. Any node that missed the notification read the object
//     last before the write landed (else it has the change), so its lease
//     has run out by then and it refuses commands, or it has reread since.
//
// The cost is one small read per RereadEvery per LUN and node, and a LUN
// that refuses commands while the reservation object cannot be read for
// StaleAfter (the data of an RBD image in the same cluster is usually
// unreachable then too).
const (
	// RereadEvery is how often every node rereads the shared object.
	RereadEvery = 2 * time.Second
	// StaleAfter is the staleness bound: a node that has not read the
	// object for this long refuses commands until it has. Above
	// NotifyTimeout plus RereadEvery, since a node's reads wait behind its
	// own notify (RADOS: one call at a time on the object, so that the
	// version read is the caller's), which may wait NotifyTimeout for a
	// silent node.
	StaleAfter = 15 * time.Second
	// leaseMarginDiv makes the writer's margin beyond StaleAfter (a fifth:
	// 3 s), for the time the doubting node's LUN takes to hear of it and
	// clock rate differences between nodes.
	leaseMarginDiv = 5
	// notifyAttempts bounds how often a failed notify is sent; one whose
	// nodes did not all answer in time is not resent (the silent node
	// would only time out again), the lease covers it.
	notifyAttempts = 3
	// notifyRetryPause is the pause between two notify attempts.
	notifyRetryPause = 200 * time.Millisecond
	// landedReads bounds the reads that check whether a write that
	// reported an error landed.
	landedReads = 3
)

// lease is a store's view of its own freshness; guarded by Store.mu.
type lease struct {
	every, stale time.Duration
	timer        *time.Timer
	// confirmed is when the last good read was sent: the lease runs from it.
	confirmed time.Time
	kick      chan struct{}
	// doubt is set while this node may have missed a change; causes counts
	// the reasons given, so that only a reread sent after the last one
	// ends the doubt.
	doubt  bool
	causes uint64
	// watching is false from a watch's loss until it is restored.
	watching bool
	// held are the acknowledgements of notifications that wait for a
	// reread.
	held []func()
	seq  uint64
	// failing is set while rereads fail, to log the first only.
	failing bool
}

// SetLease sets RereadEvery and StaleAfter, for tests; a store that is
// already running uses them from its next reread on.
func (s *Store) SetLease(every, stale time.Duration) {
	s.mu.Lock()
	s.lease.every, s.lease.stale = every, stale
	if s.lease.timer != nil && !s.closed {
		s.lease.timer.Reset(stale - time.Since(s.lease.confirmed))
	}
	s.mu.Unlock()
	s.kickReread()
}

// InDoubt reports whether this node may have missed a change of the shared
// state (its LUN refuses commands meanwhile).
func (s *Store) InDoubt() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lease.doubt
}

// startLease starts the lease from a read sent at read, and the periodic
// rereads.
func (s *Store) startLease(read time.Time) {
	s.mu.Lock()
	s.lease.confirmed = read
	s.lease.timer = time.AfterFunc(s.lease.stale-time.Since(read), s.expired)
	s.mu.Unlock()
	go s.pollLoop()
}

// pollLoop rereads the object every RereadEvery, and at once when asked.
func (s *Store) pollLoop() {
	for {
		s.mu.Lock()
		every := s.lease.every
		s.mu.Unlock()
		select {
		case <-s.done:
			return
		case <-time.After(every):
		case <-s.lease.kick:
		}
		s.reread()
		s.mu.Lock()
		joined := s.joined
		s.mu.Unlock()
		if !joined {
			s.join()
		}
	}
}

// kickReread asks pollLoop for a reread now.
func (s *Store) kickReread() {
	select {
	case s.lease.kick <- struct{}{}:
	default:
	}
}

// expired is the lease timer's: no reread succeeded for StaleAfter.
func (s *Store) expired() {
	s.suspect("no reread of the shared state succeeded within the staleness bound", nil)
}

// suspect puts this node in doubt for why, tells the LUN, and asks for a
// reread; ack, if not nil, is held until a reread sent after now succeeds.
func (s *Store) suspect(why string, ack func()) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	l := &s.lease
	l.causes++
	was := l.doubt
	l.doubt = true
	if ack != nil {
		l.held = append(l.held, ack)
	}
	u := s.updateLocked(nil, nil)
	s.mu.Unlock()
	if !was {
		s.log.Warn("persistent reservations: this node may have missed a change; its LUN answers NOT READY until it has reread the shared state",
			"why", why)
	}
	s.toLUN(u)
	s.kickReread()
}

// reread reads the object: a newer state goes to the LUN, the lease is
// renewed from when the read was sent, and a read sent after every cause of
// doubt (with the watch in place) ends the doubt and releases the held
// acknowledgements. It reports whether the read succeeded.
func (s *Store) reread() bool {
	s.mu.Lock()
	causes := s.lease.causes
	s.mu.Unlock()
	sent := time.Now()
	data, _, err := s.obj.Read()
	var t *reservation.Table
	if err == nil {
		t, err = reservation.DecodeCluster(data)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return err == nil
	}
	l := &s.lease
	if err != nil {
		// Logged once per run of failures: a cut-off node would log every
		// RereadEvery.
		if !l.failing {
			s.log.Warn("persistent reservations: rereading the shared state failed", "error", err)
		}
		l.failing = true
		if errors.Is(err, ErrBlocklisted) {
			// Fenced by a writer (or an administrator): this node may
			// have missed a change. In doubt until a reread on the new
			// client; suspect asks for it at once.
			go s.suspect("this node's client was blocklisted", nil)
		}
		return false
	}
	l.failing = false
	if sent.After(l.confirmed) {
		l.confirmed = sent
		l.timer.Reset(l.stale - time.Since(sent))
	}
	var table *reservation.Table
	if t.Epoch() > s.epoch {
		s.latest, s.epoch = data, t.Epoch()
		table = t.AsCache(s.port)
		// A change the watch did not bring: a writer may have found this
		// node absent and removed its registration.
		go s.join()
	}
	var acks []func()
	if causes == l.causes {
		acks, l.held = l.held, nil
	}
	settled := l.doubt && causes == l.causes && l.watching
	if settled {
		l.doubt = false
		s.log.Info("persistent reservations: the shared state was reread; commands are admitted again")
	}
	if table == nil && !settled && len(acks) == 0 {
		return true
	}
	u := s.updateLocked(table, acks)
	// Sent under mu, so that the LUN sees doubt and its end in order (it
	// also orders by Seq); send never blocks.
	if s.send != nil {
		s.send(u)
	} else {
		u.Ack()
	}
	return true
}

// updateLocked numbers a new Update carrying table, the current doubt, and
// acks as its acknowledgement; s.mu is held.
func (s *Store) updateLocked(table *reservation.Table, acks []func()) *Update {
	s.lease.seq++
	u := &Update{Table: table, Doubt: s.lease.doubt, seq: s.lease.seq}
	var live []func()
	for _, a := range acks {
		if a != nil {
			live = append(live, a)
		}
	}
	if len(live) > 0 {
		u.ack = func() {
			for _, a := range live {
				a()
			}
		}
	}
	return u
}

// unseen reports whether the object's state, numbered epoch, may be unknown
// to some node: newer than any this node has seen, or after a write of this
// node whose outcome was unknown.
func (s *Store) unseen(epoch uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.unannounced || epoch > s.epoch
}

// landed reports whether the object holds state, after a write of it that
// reported an error: an OSD may have applied an op its client gave up on.
func (s *Store) landed(state []byte) bool {
	for i := range landedReads {
		data, _, err := s.obj.Read()
		if err == nil {
			return bytes.Equal(data, state)
		}
		select {
		case <-s.done:
			return false
		case <-time.After(time.Duration(i+1) * notifyRetryPause):
		}
	}
	return false
}

// announce tells every node of the state numbered epoch, written (or found)
// at written, with the unit attentions it raises, and returns once every
// member has acknowledged it, or, if that cannot be confirmed, once the
// members that did not are fenced (members.go) and the staleness bound has
// passed since written (and this node's LUN has the state).
func (s *Store) announce(epoch uint64, state []byte, uas []reservation.UA, written time.Time) {
	payload := encodeNotice(epoch, state, uas)
	var absent map[uint16][]string
	for attempt := 1; ; attempt++ {
		acked, missed, err := s.obj.Notify(payload, s.NotifyWait())
		var known bool
		absent, known = s.absentMembers(acked)
		if err == nil && missed == 0 && known && len(absent) == 0 {
			s.log.Info("persistent reservations changed", "epoch", epoch, "nodes", len(acked))
			s.announced()
			return
		}
		s.log.Warn("persistent reservations: not every node acknowledged a change",
			"epoch", epoch, "acked", len(acked), "missed", missed, "absentMembers", len(absent), "attempt", attempt, "error", err)
		// A node that did not answer in time, or whose watch is gone, would
		// only fail to answer again: the lease covers it.
		if missed > 0 || err == nil && len(absent) > 0 || attempt >= notifyAttempts {
			break
		}
		select {
		case <-s.done:
			return
		case <-time.After(notifyRetryPause):
		}
	}
	// The members that did not acknowledge are cut off from the cluster
	// before anything else, so that what they hold or are sent fails.
	fenced := s.fence(epoch, absent)
	// This node's LUN takes the change directly (its own watch may not have
	// had it; a duplicate is harmless), and every other node has it or
	// refuses commands once its lease has run out.
	s.deliver(Event{Data: payload})
	s.mu.Lock()
	wait := s.lease.stale + s.lease.stale/leaseMarginDiv - time.Since(written)
	s.mu.Unlock()
	s.log.Warn("persistent reservations: waiting out the staleness bound before answering", "epoch", epoch, "wait", wait)
	select {
	case <-s.done:
		return
	case <-time.After(wait):
	}
	s.forget(fenced)
	s.announced()
}

// announced records that no write of this node is left untold.
func (s *Store) announced() {
	s.mu.Lock()
	s.unannounced = false
	s.mu.Unlock()
}
