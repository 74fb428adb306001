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
// them (SBC-3 5.2). An exclusive IO conflicts with any overlapping write and the
// other way round, while plain writes never wait for each other. A write that
// conflicts with one in flight, or with an earlier waiting one, waits in order. It
// lives in the LUN actor, so it needs no lock of its own, and it never blocks:
// waiting writes are only held back, never waited for.
//
// While no exclusive IO is active or waiting, which is nearly always, plain writes
// are untracked: they are only counted (shared with the workers), hold no range and
// cost no message back to the LUN. An exclusive IO that arrives waits until every
// untracked write has finished (it cannot tell which overlap), and from then until
// the exclusives are gone, writes hold ranges as above.
//
// A fence is the byte range of an abandoned write whose call has not returned
// (watchdog.go): no write overlapping it starts until it is lifted, so the late
// call can overwrite nothing acknowledged after it. Reads pass.
type rangeLocks struct {
	nextID uint64
	active map[uint64]held
	queue  []queued
	// exclusives counts exclusive IOs active or queued: while it is zero
	// plain writes skip the overlap scan and go untracked.
	exclusives int
	untracked  *drainCounter
	fences     map[uint64]scsidev.Extent
}

// writesDrained tells the LUN that the untracked writes it waits for are done.
type writesDrained struct{}

func newRangeLocks(untracked *drainCounter) *rangeLocks {
	return &rangeLocks{active: make(map[uint64]held), untracked: untracked}
}

// overlaps reports whether two byte ranges share a byte.
func overlaps(a, b scsidev.Extent) bool {
	return a.Offset < b.Offset+b.Length && b.Offset < a.Offset+a.Length
}

// conflicts reports whether two writes must not run at the same time.
func conflicts(a, b held) bool {
	return (a.exclusive || b.exclusive) && overlaps(a.span, b.span)
}

// fenced reports whether span overlaps a fence.
func (l *rangeLocks) fenced(span scsidev.Extent) bool {
	if len(l.fences) == 0 {
		return false
	}
	for _, f := range l.fences {
		if overlaps(span, f) {
			return true
		}
	}
	return false
}

// fence holds span until unfence with the id it returns.
func (l *rangeLocks) fence(span scsidev.Extent) uint64 {
	if l.fences == nil {
		l.fences = make(map[uint64]scsidev.Extent)
	}
	l.nextID++
	l.fences[l.nextID] = span
	return l.nextID
}

// unfence lifts a fence and returns the queued writes that may now run.
func (l *rangeLocks) unfence(id uint64) []*pb.IoRequest {
	delete(l.fences, id)
	return l.retry()
}

// blocked reports whether h conflicts with a fence, an active write or one of
// the first n queued ones.
func (l *rangeLocks) blocked(h held, n int) bool {
	if l.fenced(h.span) {
		return true
	}
	if l.exclusives == 0 {
		return false
	}
	if h.exclusive && !l.untracked.idle() {
		return true // the LUN gets writesDrained
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

// acquire gives io a lock id (or marks it untracked) and reports whether it may run
// now; if not it is queued and later returned by release or retry.
func (l *rangeLocks) acquire(io *pb.IoRequest, h held) bool {
	if h.exclusive {
		l.exclusives++
	} else if l.exclusives == 0 && !l.fenced(h.span) {
		io.Untracked = true
		l.untracked.add()
		return true
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
// now run (see retry).
func (l *rangeLocks) release(id uint64) []*pb.IoRequest {
	h, ok := l.active[id]
	if !ok {
		return nil
	}
	delete(l.active, id)
	if h.exclusive {
		l.exclusives--
	}
	return l.retry()
}

// retry returns the queued writes that may now run, in arrival order, already
// recorded as in flight.
func (l *rangeLocks) retry() []*pb.IoRequest {
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

// requeue puts writes that were admitted but have not started at the head of the
// queue, in their order, to wait for what blocks them (a fence): an untracked one
// stops being counted as such, an active one gives up its lock but still counts as
// exclusive. retry starts them with a new lock once nothing blocks them.
func (l *rangeLocks) requeue(ios []*pb.IoRequest, span func(*pb.IoRequest) scsidev.Extent, send func(any)) {
	if len(ios) == 0 {
		return
	}
	front := make([]queued, 0, len(ios)+len(l.queue))
	for _, io := range ios {
		h := held{span: span(io)}
		if a, ok := l.active[io.LockId]; ok && io.LockId != 0 {
			h = a
			delete(l.active, io.LockId)
		}
		io.LockId = 0
		if io.Untracked {
			io.Untracked = false
			l.untracked.done(send, &writesDrained{})
		}
		front = append(front, queued{held: h, io: io})
	}
	l.queue = append(front, l.queue...)
}
