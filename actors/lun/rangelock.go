package lun

import (
	"github.com/atgt/atgt/actors/scsidev"
	pb "github.com/atgt/atgt/messages/atgtv1"
)

// held is one write the LUN handed to a worker and has not yet heard back
// about, or one that waits for its turn.
type held struct {
	span      scsidev.Extent
	exclusive bool
}

// queued is a write waiting for an overlapping exclusive IO to finish.
type queued struct {
	held
	io *pb.IoRequest
}

// rangeLocks orders writes against COMPARE AND WRITE and ORWRITE, which read
// and then write their blocks and must be atomic against every other write to
// them (SBC-3 5.2). Every write in flight holds its byte range; an exclusive
// IO conflicts with any overlapping write and the other way round, while
// plain writes never wait for each other. A write that conflicts with one in
// flight, or with an earlier waiting one, waits in order. It lives in the LUN
// actor, so it needs no lock of its own, and it never blocks: waiting writes
// are only held back, never waited for.
type rangeLocks struct {
	nextID uint64
	active map[uint64]held
	queue  []queued
	// exclusives counts exclusive IOs active or queued: while it is zero
	// plain writes skip the overlap scan.
	exclusives int
}

func newRangeLocks() *rangeLocks {
	return &rangeLocks{active: make(map[uint64]held)}
}

// overlaps reports whether two byte ranges share a byte.
func overlaps(a, b scsidev.Extent) bool {
	return a.Offset < b.Offset+b.Length && b.Offset < a.Offset+a.Length
}

// conflicts reports whether two writes must not run at the same time.
func conflicts(a, b held) bool {
	return (a.exclusive || b.exclusive) && overlaps(a.span, b.span)
}

// blocked reports whether h conflicts with an active write or with one of
// the first n queued ones.
func (l *rangeLocks) blocked(h held, n int) bool {
	if l.exclusives == 0 {
		return false
	}
	for _, a := range l.active {
		if conflicts(h, a) {
			return true
		}
	}
	for _, q := range l.queue[:n] {
		if conflicts(h, q.held) {
			return true
		}
	}
	return false
}

// acquire gives io a lock id and reports whether it may run now; if not it
// is queued and later returned by release.
func (l *rangeLocks) acquire(io *pb.IoRequest, h held) bool {
	if h.exclusive {
		l.exclusives++
	}
	if l.blocked(h, len(l.queue)) {
		l.queue = append(l.queue, queued{held: h, io: io})
		return false
	}
	l.start(io, h)
	return true
}

// start records io as in flight.
func (l *rangeLocks) start(io *pb.IoRequest, h held) {
	l.nextID++
	io.LockId = l.nextID
	l.active[io.LockId] = h
}

// release ends the write with lock id, and returns the queued writes that may
// now run, in arrival order, already recorded as in flight.
func (l *rangeLocks) release(id uint64) []*pb.IoRequest {
	h, ok := l.active[id]
	if !ok {
		return nil
	}
	delete(l.active, id)
	if h.exclusive {
		l.exclusives--
	}
	var ready []*pb.IoRequest
	for i := 0; i < len(l.queue); {
		q := l.queue[i]
		if l.blocked(q.held, i) {
			i++
			continue
		}
		l.queue = append(l.queue[:i], l.queue[i+1:]...)
		l.start(q.io, q.held)
		ready = append(ready, q.io)
	}
	return ready
}
