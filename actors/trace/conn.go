package trace

import (
	"sync/atomic"

	"google.golang.org/protobuf/proto"

	"github.com/atgt/atgt/actors/metrics"
)

// Now is the trace clock: monotonic nanoseconds, the metrics clock, so that a task's
// arrived_nanos and its hops compare.
func Now() int64 { return metrics.Now() }

// liveSlots is how many traced tasks of one connection can be found by id at once
// (twice the default queue depth and more); a slot reused while its old task is
// still on its way makes that task's later hops drop.
const liveSlots = 1024

// tableSize bounds the connections whose tasks can be found by id at once.
const tableSize = 1 << 14

// conns finds a connection by the number in a task's trace id. Only the connection
// itself writes its slot (at its start and end); every hop reads it lock-free.
var (
	conns   [tableSize]atomic.Pointer[Conn]
	connSeq atomic.Uint32
)

// Conn is one connection's trace: its traced tasks in flight, found by id, and a ring
// of its last finished tasks. Only its connection (actor, reader and writer) adds to
// it; readers load the ring's slots atomically.
type Conn struct {
	t    *Tracer
	no   uint32
	seq  uint32 // actor-owned: the last record's number
	live [liveSlots]atomic.Pointer[Record]
	ring []atomic.Pointer[Record]
	next atomic.Uint64
	// ActorID names the connection actor (its reader and writer too) in events.
	ActorID string
	// Initiator, Target, ISID and TSIH are the identity its tasks carry.
	Initiator, Target string
	ISID              [6]byte
	TSIH              uint16
}

// Level is the tracer's level now, for the reader's stamp.
func (c *Conn) Level() Level {
	if c == nil {
		return Off
	}
	return c.t.Level()
}

// Start decides whether a new task is traced, from the level and the filters, and
// if so returns its record and the id its ScsiTask carries (trace_id). Actor only.
func (c *Conn) Start(itt, cmdSN uint32, lun uint64, opcode uint8) (*Record, uint64) {
	s := c.t.settings.Load()
	if s.Level == Off || !s.Filter.matches(c.Target, c.Initiator, lun, opcode) {
		return nil, 0
	}
	c.seq++
	if c.seq == 0 {
		c.seq = 1
	}
	r := &Record{seq: c.seq, full: s.Level == Full, ID: TaskID{Initiator: c.Initiator, Target: c.Target,
		ISID: c.ISID, TSIH: c.TSIH, ITT: itt, CmdSN: cmdSN, LUN: lun, Opcode: opcode}}
	if r.full {
		r.msgs = new([MaxEvents]proto.Message)
	}
	c.live[c.seq%liveSlots].Store(r)
	return r, uint64(c.no)<<32 | uint64(c.seq)
}

// Finish seals r, keeps it in the ring, and passes it to the flight recorder and
// the sinks. Any of the connection's goroutines may call it, once per record.
func (c *Conn) Finish(r *Record) {
	r.Seal()
	c.live[r.seq%liveSlots].CompareAndSwap(r, nil)
	c.t.publish(func() {
		i := c.next.Add(1) - 1
		c.ring[i%uint64(len(c.ring))].Store(r)
	}, r)
	c.t.finished(r)
}

// each calls f with the ring's records, oldest first.
func (c *Conn) each(f func(*Record)) {
	n := c.next.Load()
	size := uint64(len(c.ring))
	from := uint64(0)
	if n > size {
		from = n - size
	}
	for i := from; i < n; i++ {
		if r := c.ring[i%size].Load(); r != nil {
			f(r)
		}
	}
}

// Close makes the connection's tasks unreachable by id; its ring stays readable
// until the tracer forgets the connection.
func (c *Conn) Close() {
	conns[c.no%tableSize].CompareAndSwap(c, nil)
	c.t.retire(c)
}

// Lookup returns the live record a task's trace id names, or nil.
func Lookup(id uint64) *Record {
	c := conns[uint32(id>>32)%tableSize].Load()
	if c == nil || c.no != uint32(id>>32) {
		return nil
	}
	r := c.live[uint32(id)%liveSlots].Load()
	if r == nil || r.seq != uint32(id) {
		return nil
	}
	return r
}

// Add records e on the traced task id (a no-op once its record is gone). Callers
// test id != 0 first: that branch is all an untraced task pays.
func Add(id uint64, e Event) {
	if r := Lookup(id); r != nil {
		r.Add(e)
	}
}

// AddMsg is Add with the message that carried the task, kept at level Full.
func AddMsg(id uint64, e Event, m proto.Message) {
	if r := Lookup(id); r != nil {
		r.AddMsg(e, m)
	}
}

// MarkBad has the flight recorder log the traced task id when it finishes.
func MarkBad(id uint64) {
	if r := Lookup(id); r != nil {
		r.MarkBad()
	}
}
