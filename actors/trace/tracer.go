package trace

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Filter selects the tasks traced (and read back): every field set must match.
type Filter struct {
	// Target and Initiator are names; "" matches any.
	Target, Initiator string
	// LUN and Opcode match one LUN number or operation code; negative matches any.
	LUN    int64
	Opcode int
}

// Any is the filter that matches every task.
var Any = Filter{LUN: -1, Opcode: -1}

func (f Filter) matches(target, initiator string, lun uint64, opcode uint8) bool {
	return (f.Target == "" || f.Target == target) && (f.Initiator == "" || f.Initiator == initiator) &&
		(f.LUN < 0 || uint64(f.LUN) == lun) && (f.Opcode < 0 || f.Opcode == int(opcode))
}

// Match reports whether the task id names passes the filter.
func (f Filter) Match(id TaskID) bool { return f.matches(id.Target, id.Initiator, id.LUN, id.Opcode) }

// Settings are what is traced: the level, for the tasks the filter selects.
type Settings struct {
	Level  Level
	Filter Filter
}

// Config makes a Tracer.
type Config struct {
	// Level and Filter are the settings at start.
	Level  Level
	Filter Filter
	// RingTasks is how many finished tasks each connection keeps (default 256).
	RingTasks int
	// Sinks get every traced task's timeline, from a queue of SinkQueue (default
	// 1024) drained by one goroutine; a full queue drops and counts.
	Sinks     []Sink
	SinkQueue int
	// Log receives the flight records of traced tasks that ended badly.
	Log hclog.Logger
}

// retiredConns is how many ended connections' rings stay readable.
const retiredConns = 32

// Tracer is a target's trace: the settings, switched at runtime, the connections'
// rings, and the sinks. The data path reads the settings once per task, when its
// connection makes it; nothing on it takes the tracer's lock (connections register
// at login and leave at logout).
type Tracer struct {
	settings  atomic.Pointer[Settings]
	ringTasks int
	log       hclog.Logger

	mu      sync.Mutex
	active  map[*Conn]struct{}
	retired []*Conn

	sinks []Sink
	queue chan *Record
	// direct are timelines made elsewhere (an embedder's task, Emit) for the sinks.
	direct chan *Timeline
	done   chan struct{}
	// drained is closed when the sink goroutine has returned.
	drained   chan struct{}
	dropped   atomic.Uint64
	sunk      atomic.Uint64
	closeOnce sync.Once

	// pubMu orders the traced tasks' arrival in the rings: each gets a finish time
	// later than every record already readable (lastPub), so that Since, resuming
	// from lastPub, misses none. Taken by traced tasks only.
	pubMu   sync.Mutex
	lastPub int64
}

// publish stamps r's finish time and runs store (which makes r readable) in
// finish-time order.
func (t *Tracer) publish(store func(), r *Record) {
	t.pubMu.Lock()
	now := max(Now(), t.lastPub+1)
	r.finished.Store(now)
	store()
	t.lastPub = now
	t.pubMu.Unlock()
}

// published is the finish time of the last record made readable: every record
// finished at or before it is in its ring.
func (t *Tracer) published() int64 {
	t.pubMu.Lock()
	defer t.pubMu.Unlock()
	return t.lastPub
}

// New returns a tracer; Close ends its sink goroutine.
func New(cfg Config) *Tracer {
	t := &Tracer{ringTasks: cfg.RingTasks, log: cfg.Log, active: map[*Conn]struct{}{}, sinks: cfg.Sinks}
	if t.ringTasks <= 0 {
		t.ringTasks = 256
	}
	if t.log == nil {
		t.log = hclog.NewNullLogger()
	}
	t.Set(Settings{Level: cfg.Level, Filter: cfg.Filter})
	if len(t.sinks) > 0 {
		n := cfg.SinkQueue
		if n <= 0 {
			n = 1024
		}
		t.queue, t.done = make(chan *Record, n), make(chan struct{})
		t.direct, t.drained = make(chan *Timeline, n), make(chan struct{})
		go t.drain(t.done)
	}
	return t
}

// Set switches what is traced; tasks already made keep their decision.
func (t *Tracer) Set(s Settings) { t.settings.Store(&s) }

// Settings returns what is traced now.
func (t *Tracer) Settings() Settings { return *t.settings.Load() }

// Level is the level now.
func (t *Tracer) Level() Level {
	if t == nil {
		return Off
	}
	return t.settings.Load().Level
}

// NewConn registers a logged-in connection's trace; Close unregisters it.
func (t *Tracer) NewConn(initiator, target string, isid [6]byte, tsih uint16) *Conn {
	if t == nil {
		return nil
	}
	c := &Conn{t: t, Initiator: initiator, Target: target, ISID: isid, TSIH: tsih,
		ring: make([]atomic.Pointer[Record], t.ringTasks)}
	t.mu.Lock()
	// Take a number whose table slot is free (it is, unless 16384 connections live).
	for i := 0; i < tableSize; i++ {
		c.no = connSeq.Add(1)
		if c.no != 0 && conns[c.no%tableSize].CompareAndSwap(nil, c) {
			break
		}
	}
	t.active[c] = struct{}{}
	t.mu.Unlock()
	return c
}

// retire keeps an ended connection's ring readable for a while.
func (t *Tracer) retire(c *Conn) {
	t.mu.Lock()
	delete(t.active, c)
	if c.next.Load() > 0 {
		t.retired = append(t.retired, c)
		if len(t.retired) > retiredConns {
			t.retired = t.retired[len(t.retired)-retiredConns:]
		}
	}
	t.mu.Unlock()
}

// conns lists the connections whose rings may be read.
func (t *Tracer) conns() []*Conn {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := append([]*Conn(nil), t.retired...)
	for c := range t.active {
		out = append(out, c)
	}
	return out
}

// finished logs a bad task's flight record and queues it for the sinks.
func (t *Tracer) finished(r *Record) {
	if r.bad.Load() {
		LogTimeline(t.log, r.Timeline(), "")
	}
	if t.queue == nil {
		return
	}
	select {
	case t.queue <- r:
	default:
		t.dropped.Add(1)
	}
}

// drain hands queued records to the sinks, until done is closed: it looks at done
// before each record, so that no sink is called once Close has seen it return.
func (t *Tracer) drain(done <-chan struct{}) {
	defer close(t.drained)
	for {
		select {
		case <-done:
			return
		default:
		}
		select {
		case r := <-t.queue:
			t.sink(r.Timeline())
		case tl := <-t.direct:
			t.sink(tl)
		case <-done:
			return
		}
	}
}

// sink hands one timeline to every sink.
func (t *Tracer) sink(tl *Timeline) {
	for _, s := range t.sinks {
		s.Finished(tl)
	}
	t.sunk.Add(1)
}

// Emit queues a timeline made outside a connection for the sinks: the LUN-side
// timeline of a task an embedder submitted with a W3C traceparent, so that its trace
// continues into atgt's. It never blocks; with no sinks it does nothing.
func (t *Tracer) Emit(tl *Timeline) {
	if t == nil || t.direct == nil {
		return
	}
	select {
	case t.direct <- tl:
	default:
		t.dropped.Add(1)
	}
}

// closeWait bounds how long Close waits for a sink's call in progress.
const closeWait = 5 * time.Second

// Close ends the sink goroutine (records still queued are dropped) and waits for a
// sink's call in progress, at most closeWait, so that once it returns the sinks (an
// embedder's, which it may then shut down) are not called again. A sink still in its
// call after closeWait is logged, and called no more once that call returns.
func (t *Tracer) Close() {
	if t == nil || t.done == nil {
		return
	}
	t.closeOnce.Do(func() { close(t.done) })
	select {
	case <-t.drained:
	case <-time.After(closeWait):
		t.log.Warn("a trace sink is still in its call at the stop; it gets no more timelines", "waited", closeWait)
	}
}
