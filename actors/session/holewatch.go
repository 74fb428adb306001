package session

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/atgt/atgt/actors/conn"
	"github.com/atgt/atgt/actors/sched"
)

// The CmdSN hole timeout. The session releases commands in CmdSN order (RFC 7143
// 4.2.2.1, 3.2.2.1): one past a CmdSN that has not arrived waits until the
// initiator sends the missing one (after a digest error it sends it again, 11.17.1;
// or it plugs the hole with an ABORT TASK naming it, 11.5.1). RFC 7143 sets no limit
// on that wait, but a request that waits holds what the connection took for it (a
// WRITE's share of the write budget, a READ's of the Data-In budget, a NOP-Out's
// data), and the Data-Out timeout does not see it: no R2T goes out before the
// command's turn, so it owes no Data-Out, and the connection stays up by answering
// NOP-In. So a request that has waited behind a hole for a whole Data-Out timeout
// (Config.DataOutTimeout; 0: no limit) ends the connection, as the Data-Out timeout
// does: a protocol failure of the peer, which at ErrorRecoveryLevel 0 ends the
// session's tasks and frees what they hold at once. The wait is counted per
// request, from the moment it began to wait: a hole that the initiator fills just
// in time while it opens the next one ahead of the request does not keep it waiting
// longer. An initiator that sends in CmdSN order, on one connection or several,
// never has a request wait that long: a hole lasts as long as a missing command
// takes to arrive. The check costs the data path nothing while no request waits
// (the normal case on one connection): a request that begins to wait costs one
// clock read and an append, and a timer runs only while one waits.

// holeWatch is the session's record of the requests waiting behind a CmdSN hole.
type holeWatch struct {
	// queue are the requests that began to wait, in the order they did:
	// queue[head:], some released since (dropped when found at the front).
	queue []waitingSince
	head  int
	// timer sends holeCheck; armed: it is due. Stopped when the session stops,
	// since its function holds the session's PID.
	timer *time.Timer
	armed bool
	// ended: the connection was told to end.
	ended bool
}

// waitingSince is a request, by CmdSN, and when it began to wait.
type waitingSince struct {
	sn uint32
	at time.Time
}

// holeCheck: the hole timer ran.
type holeCheck struct{}

var holeCheckMsg = &holeCheck{}

// add records that the request at CmdSN sn began to wait at now. Entries of
// released requests leave from the front as the oldest is looked for, which
// waiting does before each add (else they piled up until the timer ran, one per
// request that waited at all); behind one that still waits there are at most
// the window's depth of them, since only the CmdSNs below its own can be
// released meanwhile. The entries left behind at the front are reused.
func (w *holeWatch) add(sn uint32, now time.Time) {
	if w.head > 0 && w.head >= len(w.queue)/2 {
		n := copy(w.queue, w.queue[w.head:])
		clear(w.queue[n:])
		w.queue, w.head = w.queue[:n], 0
	}
	w.queue = append(w.queue, waitingSince{sn: sn, at: now})
}

// oldest returns when the request that has waited longest began to wait; ok is
// false when none waits (waits reports the window's).
func (w *holeWatch) oldest(waits func(uint32) bool) (at time.Time, ok bool) {
	for w.head < len(w.queue) {
		e := w.queue[w.head]
		if waits(e.sn) {
			return e.at, true
		}
		w.queue[w.head] = waitingSince{}
		w.head++
	}
	w.queue, w.head = w.queue[:0], 0
	return time.Time{}, false
}

// waiting records that the request at CmdSN sn began to wait behind a hole, and
// arms the timer if it is not due.
func (s *sessionActor) waiting(ctx actor.Context, sn uint32) {
	limit := s.cfg.ConnCfg.DataOutTimeout
	if limit <= 0 || s.hole.ended {
		return
	}
	s.hole.oldest(s.window.Waits) // drop the requests released since
	s.hole.add(sn, time.Now())
	if !s.hole.armed {
		s.armHole(ctx, limit)
	}
}

// armHole has holeCheck sent after d.
func (s *sessionActor) armHole(ctx actor.Context, d time.Duration) {
	s.hole.armed = true
	if s.hole.timer != nil {
		s.hole.timer.Reset(d)
		return
	}
	s.hole.timer = sched.SendAfter(ctx, d, holeCheckMsg)
}

// checkHole ends the connection when a request has waited behind a CmdSN hole for
// the whole Data-Out timeout; else it has the check run again when the oldest
// request's wait would reach it.
func (s *sessionActor) checkHole(ctx actor.Context) {
	s.hole.armed = false
	if s.hole.ended || s.connGone {
		return
	}
	at, ok := s.hole.oldest(s.window.Waits)
	if !ok {
		return
	}
	limit := s.cfg.ConnCfg.DataOutTimeout
	if waited := time.Since(at); waited < limit {
		s.armHole(ctx, limit-waited)
		return
	}
	s.hole.ended = true
	s.log.Warn("a command waited behind a CmdSN hole the initiator did not fill for the Data-Out timeout; closing connection",
		"initiator", s.initiator, "exp_cmdsn", s.window.Exp(), "waiting", s.window.Pending(), "timeout", limit)
	ctx.Send(s.conn, &conn.End{Reason: "cmdsn hole timeout"})
}

// stopHoleWatch stops the hole timer, if any.
func (s *sessionActor) stopHoleWatch() {
	if s.hole.timer != nil {
		s.hole.timer.Stop()
	}
}
