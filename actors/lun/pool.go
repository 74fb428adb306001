package lun

import (
	"fmt"
	"math/bits"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"

	pb "github.com/atgt/atgt/messages/atgtv1"
)

// The IO worker pool. A worker takes IO only while it is free: the LUN puts IO in a
// queue its workers share and nudges an idle worker, and a worker that finishes an IO
// takes the next one from the queue in the same turn. So a hung backend call holds one
// IO and one worker, never IO queued behind it, and a busy pool costs no message per
// IO. The queue and the idle set are atomics shared with the workers, as the drain
// counters are: only the LUN adds IO, only workers (and the LUN) take it.

// queueSize bounds the shared queue; beyond it the LUN keeps IO in its overflow.
const queueSize = 1024

// workQueue is a single-producer (the LUN), multi-consumer ring of IO. The counters
// the LUN and the workers write sit on cache lines of their own.
type workQueue struct {
	head atomic.Uint64 // next to take
	_    [56]byte
	tail atomic.Uint64 // next to put; written by the LUN only
	// full: the LUN holds IO in its overflow and wants a room message when a
	// worker takes some.
	full atomic.Bool
	_    [48]byte
	buf  [queueSize]atomic.Pointer[pb.IoRequest]
}

// put adds io unless the ring is full. LUN only.
func (q *workQueue) put(io *pb.IoRequest) bool {
	t := q.tail.Load()
	if t-q.head.Load() >= queueSize {
		return false
	}
	q.buf[t%queueSize].Store(io)
	q.tail.Store(t + 1)
	return true
}

// take removes the oldest IO, or returns nil. It clears the slot it took, unless
// the LUN has already reused it: a slot left holding its IO kept the IO's task, the
// task's connection chunk and its write data reachable until 1024 later IOs had
// passed, long after the command ended (an idle LUN held them forever). It does not
// wait on a cleared slot as takeFor does: it is the LUN's own (task management,
// fences), and TestEachSeesNoTakenSlot drives it with one IO in every slot.
func (q *workQueue) take() *pb.IoRequest {
	for {
		h := q.head.Load()
		if h >= q.tail.Load() {
			return nil
		}
		slot := &q.buf[h%queueSize]
		io := slot.Load()
		if q.head.CompareAndSwap(h, h+1) {
			slot.CompareAndSwap(io, nil)
			return io
		}
	}
}

// takeFor removes the oldest IO for the worker of s, publishing it in s.handed
// before it leaves the queue, so that a scan of the queue and then the slots (eachIO)
// always finds it in one of them; the worker's begin moves it on to s.cur. handed is
// free here: the LUN hands IO only to a worker parked in the idle set, and one that
// takes from the queue is not. A cleared slot at the head means another worker took
// it and the head has already moved on (an IO's pointer is in the ring once).
func (q *workQueue) takeFor(s *slot) *pb.IoRequest {
	for {
		h := q.head.Load()
		if h >= q.tail.Load() {
			return nil
		}
		slot := &q.buf[h%queueSize]
		io := slot.Load()
		if io == nil {
			continue // another worker took it: the head has moved on
		}
		s.handed.Store(io)
		if q.head.CompareAndSwap(h, h+1) {
			slot.CompareAndSwap(io, nil)
			return io
		}
		s.handed.CompareAndSwap(io, nil)
	}
}

func (q *workQueue) empty() bool { return q.head.Load() >= q.tail.Load() }

// len is how many IOs wait.
func (q *workQueue) len() int { return int(q.tail.Load() - q.head.Load()) }

// each calls f with the IO in the queue, oldest first (LUN only: nothing else
// puts an entry). A worker may take an entry meanwhile and clear its slot (take):
// that one is skipped, as one taken just before each began is; the worker holds it.
func (q *workQueue) each(f func(*pb.IoRequest)) {
	for i, t := q.head.Load(), q.tail.Load(); i < t; i++ {
		if io := q.buf[i%queueSize].Load(); io != nil {
			f(io)
		}
	}
}

// idleSet holds one bit per pool slot whose worker waits for IO. A worker sets
// its own bit; whoever clears it (the LUN claiming the worker, or the worker
// taking itself back) owns the worker's next turn.
type idleSet struct{ words []atomic.Uint64 }

func (s *idleSet) add(i int) { s.words[i>>6].Or(1 << (i & 63)) }

// remove clears bit i and reports whether it was set.
func (s *idleSet) remove(i int) bool {
	bit := uint64(1) << (i & 63)
	return s.words[i>>6].And(^bit)&bit != 0
}

// claim clears one set bit and returns its index, or -1.
func (s *idleSet) claim() int {
	for w := range s.words {
		for {
			v := s.words[w].Load()
			if v == 0 {
				break
			}
			b := bits.TrailingZeros64(v)
			if s.words[w].CompareAndSwap(v, v&^(1<<b)) {
				return w<<6 | b
			}
		}
	}
	return -1
}

// shared is what the LUN and its workers both touch, all of it atomic.
type shared struct {
	q    workQueue
	idle idleSet
	_    [40]byte
	// clock counts watchdog ticks; a worker stamps each backend call with it.
	clock atomic.Int64
	// draining counts the workers in their run loop (not parked): each takes
	// queued IO as soon as its current call returns.
	draining atomic.Int32
	// progress is the running SANITIZE's progress in 65536ths (sanitize.go).
	progress atomic.Uint32
}

// abandonedIO replaces a slot's IO when the LUN gives up on the call.
var abandonedIO = &pb.IoRequest{}

// slot is one place in the pool. When its call is abandoned the LUN puts a new
// worker in a new slot at the same index; the old slot stays until the call returns.
type slot struct {
	index int
	pid   *actor.PID
	// cur is the IO in the backend, nil when none. The worker swaps it for nil
	// when done, the LUN for abandonedIO when giving up: whoever swaps first
	// owns the outcome, so a late result is never sent.
	cur atomic.Pointer[pb.IoRequest]
	// handed is an IO the LUN sent this idle worker's mailbox and the worker has
	// not taken yet (cur), so that task management and a failed worker see it.
	handed atomic.Pointer[pb.IoRequest]
	// since is the clock when the current backend call began.
	since atomic.Int64

	// The LUN's own: an abandoned slot's fence on its byte range (0 = none), and
	// whether the call has come back.
	dead     bool
	fence    uint64
	returned bool
	// token is an abandoned SANITIZE's, which ends when the call returns.
	token uint64
	// saved are the snapshots an abandoned reservation save writes, or may
	// have written: the call may yet land one, so its return checks them
	// against the table (prsave.go, prresave.go).
	saved [][]byte
}

// begin marks io as in the backend from clock on: cur is set before handed is
// cleared, so that a scan reading handed and then cur always sees it (eachIO).
func (s *slot) begin(io *pb.IoRequest, clock int64) {
	s.since.Store(clock)
	s.cur.Store(io)
	s.handed.CompareAndSwap(io, nil)
}

// eachIO calls f with every IO the pool holds: queued, in a worker's mailbox or
// taken, or in the backend; an IO may be passed twice. The queue is read before the
// slots, and a worker publishes what it takes before it leaves the queue (takeFor),
// so an IO moving from the queue to a worker meanwhile is never missed (task
// management must find every task it aborts). LUN only.
func (p *pool) eachIO(f func(*pb.IoRequest)) {
	p.sh.q.each(f)
	for _, s := range p.slots {
		// handed before cur: a worker sets cur before it clears handed.
		if io := s.handed.Load(); io != nil {
			f(io)
		}
		if io := s.cur.Load(); io != nil && io != abandonedIO {
			f(io)
		}
	}
	for _, io := range p.overflow {
		f(io)
	}
}

// nudge tells an idle worker that IO waits in the queue.
type nudge struct{}

// room tells the LUN that a worker made room in a full queue.
type room struct{}

// lateReturn tells the LUN that an abandoned call came back (its result discarded).
type lateReturn struct{ s *slot }

var (
	nudgeMsg = &nudge{}
	roomMsg  = &room{}
)

// pool is the LUN's side of its workers.
type pool struct {
	sh       *shared
	slots    []*slot          // the live worker of each index
	byID     map[string]*slot // live and abandoned workers, by PID id
	overflow []*pb.IoRequest
	// abandoned counts abandoned calls that have not returned.
	abandoned int
	props     func(*shared, *slot) *actor.Props
	spawned   int
}

func newPool(n int, props func(*shared, *slot) *actor.Props) *pool {
	sh := &shared{idle: idleSet{words: make([]atomic.Uint64, (n+63)/64)}}
	return &pool{sh: sh, slots: make([]*slot, n), byID: make(map[string]*slot), props: props}
}

// spawn starts a worker in a new slot at index i.
func (p *pool) spawn(ctx actor.SpawnerContext, i int) *slot {
	s := &slot{index: i}
	pr := p.props(p.sh, s)
	pid, err := ctx.SpawnNamed(pr, fmt.Sprintf("io%d.%d", i, p.spawned))
	if err != nil {
		pid = ctx.Spawn(pr)
	}
	p.spawned++
	s.pid = pid
	p.slots[i] = s
	p.byID[pid.Id] = s
	return s
}

// toWorker queues io for the next free worker and wakes an idle one. While the
// LUN is stalled (stalled), fenced, cut off or in doubt about the shared
// reservations the IO is answered NOT READY instead (notReadyError).
func (l *lunActor) toWorker(sc actor.SenderContext, io *pb.IoRequest) {
	if f := handOffFault.Load(); f != nil {
		(*f)(io)
	}
	l.handedOn(io)
	if l.stalled() || l.reopen.active || l.contact.cut || l.prDoubt {
		l.finish(sc, io, l.notReadyError(), false)
		return
	}
	p := l.pool
	if io.Length > maxMergePart && io.Kind == pb.IoKind_IO_KIND_READ && len(p.overflow) == 0 && p.sh.q.empty() {
		// A large read goes straight to an idle worker, so that large copies run
		// in parallel (as merge.go keeps them apart for): its wake is never
		// wasted, and is small beside the copy. Not a write: one in a worker's
		// mailbox is out of reach of a fence raised before the worker takes it
		// (fence.go), and could then be overwritten by the fenced call.
		if i := p.sh.idle.claim(); i >= 0 {
			p.slots[i].handed.Store(io)
			sc.Send(p.slots[i].pid, io)
			return
		}
	}
	if len(p.overflow) > 0 || !p.sh.q.put(io) {
		p.overflow = append(p.overflow, io)
		l.refill(sc)
		return
	}
	// A small IO waits in the queue; a worker wakes only for IO the draining ones will not take soon: more IO
	// waits than they are, or (wakeQueued) the LUN's turn ends with IO still
	// waiting. Each wake costs a goroutine switch, and one that finds the queue
	// already emptied is wasted.
	if p.sh.q.len() > int(p.sh.draining.Load()) {
		l.wake(sc)
	}
}

// wakeQueued wakes an idle worker for each IO still waiting when the LUN's mailbox
// is empty, so that none waits on a worker whose call does not return.
func (l *lunActor) wakeQueued(sc actor.SenderContext) {
	for n := l.pool.sh.q.len(); n > 0; n-- {
		i := l.pool.sh.idle.claim()
		if i < 0 {
			return
		}
		sc.Send(l.pool.slots[i].pid, nudgeMsg)
	}
}

// wake nudges one idle worker, if any.
func (l *lunActor) wake(sc actor.SenderContext) {
	if i := l.pool.sh.idle.claim(); i >= 0 {
		sc.Send(l.pool.slots[i].pid, nudgeMsg)
	}
}

// refill moves overflow into the queue while it has room; if some is left, a
// worker that takes IO sends room.
func (l *lunActor) refill(sc actor.SenderContext) {
	p, q := l.pool, &l.pool.sh.q
	for {
		n := 0
		for n < len(p.overflow) && q.put(p.overflow[n]) {
			n++
			l.wake(sc)
		}
		rest := copy(p.overflow, p.overflow[n:])
		clear(p.overflow[rest:])
		p.overflow = p.overflow[:rest]
		if rest == 0 {
			return
		}
		q.full.Store(true)
		// A worker that took IO before the flag was set sent nothing: look again.
		if q.tail.Load()-q.head.Load() >= queueSize {
			return
		}
	}
}
