package trace

import (
	"encoding/hex"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/go-hclog"

	pb "github.com/atgt/atgt/messages/atgtv1"
)

// The flight recorder. Whether tracing is on or not, each task carries the times of
// its LUN-side hops in its ScsiTask (arrived_nanos, queued_nanos, io_start_nanos,
// io_end_nanos) and what befell it (flight), and each LUN keeps its last N finished
// tasks in a ring. A task that ends badly (CHECK CONDITION other than a unit
// attention, TASK ABORTED, a call abandoned, an abort, a retry after a worker crash)
// is logged at warn as one record: its whole trace when it was traced (by its
// connection, once the response is written), else the LUN-side hops.

// The bits of ScsiTask.flight.
const (
	FlightOrderWait uint32 = 1 << iota
	FlightLockWait
	FlightRetried
	FlightFault
	FlightAbandoned
	FlightAborted
)

// flightBad are the bits that make a task's end bad whatever its status.
const flightBad = FlightRetried | FlightAbandoned | FlightAborted | FlightFault

// Flight is one LUN's flight recorder. Done is called by whoever answers a task
// (the LUN actor or an IO worker), each in its own shard of the ring, as the metrics
// shards are: an uncontended atomic add and an atomic store.
type Flight struct {
	Target string
	LUN    uint64
	// Emit, when set, gets the LUN-side timeline of every task not traced by a
	// connection that ended badly (the flight record it logs) or that carries a W3C
	// traceparent (an embedder's own task), for the trace sinks (Tracer.Emit): so a
	// sink such as the OTLP exporter sees the bad tasks whatever the trace level.
	Emit   func(*Timeline)
	log    hclog.Logger
	shards []flightShard
}

// flightShard is one answerer's part of the ring, on cache lines of its own. Its
// one writer takes the lock only against a reader (Recent): uncontended, a lock
// and an unlock, as many atomic operations as the counter add and pointer store
// that kept the whole task before.
type flightShard struct {
	mu   sync.Mutex
	next uint64
	ring []flightEntry
	_    [128 - 40]byte // two cache lines a shard: no false sharing
}

// flightEntry is what the ring keeps of a finished task: what Recent shows. Not the
// task itself, whose write data (pooled buffers) would stay live with it.
type flightEntry struct {
	itt, cmdSN                      uint32
	lun                             uint64
	opcode                          uint8
	nexus, traceparent              string
	arrived, queued, ioStart, ioEnd int64
}

// entryOf is what the ring keeps of t.
func entryOf(t *pb.ScsiTask) flightEntry {
	var e flightEntry
	e.set(t)
	return e
}

// set makes e what the ring keeps of t, field by field (no temporary to copy).
func (e *flightEntry) set(t *pb.ScsiTask) {
	e.itt, e.cmdSN, e.lun = t.Itt, t.CmdSn, t.Lun
	e.arrived, e.queued, e.ioStart, e.ioEnd = t.ArrivedNanos, t.QueuedNanos, t.IoStartNanos, t.IoEndNanos
	e.opcode = 0
	if len(t.Cdb) > 0 {
		e.opcode = t.Cdb[0]
	}
	if e.nexus != t.Nexus { // usually the same session's: no pointer write
		e.nexus = t.Nexus
	}
	if e.traceparent != t.Traceparent {
		e.traceparent = t.Traceparent
	}
}

// NewFlight returns a LUN's recorder keeping about its last n tasks (n <= 0: none
// are kept, bad ends are still logged), over shards answerers (the LUN actor, shard
// 0, and its IO workers).
func NewFlight(target string, lun uint64, n, shards int, log hclog.Logger) *Flight {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	shards = max(shards, 1)
	f := &Flight{Target: target, LUN: lun, log: log, shards: make([]flightShard, shards)}
	if n > 0 {
		per := (n + shards - 1) / shards
		for i := range f.shards {
			f.shards[i].ring = make([]flightEntry, per)
		}
	}
	return f
}

// Done records t's end with status and sense at now (trace clock), by actor in
// shard; a bad end is logged, or for a traced task left for its connection to log
// whole. The task must not change after Done (its connection only reads it).
func (f *Flight) Done(shard int, t *pb.ScsiTask, status uint8, sense []byte, now int64, actor, actorID string) {
	if f == nil {
		return
	}
	bad := BadStatus(status, sense) || t.Flight&flightBad != 0
	if t.TraceId != 0 {
		if r := Lookup(t.TraceId); r != nil {
			if bad {
				r.MarkBad()
			}
			bad = false // logged whole by the connection
		}
	}
	if s := &f.shards[uint(shard)%uint(len(f.shards))]; len(s.ring) > 0 {
		s.mu.Lock()
		s.ring[s.next%uint64(len(s.ring))].set(t)
		s.next++
		s.mu.Unlock()
	}
	embedded := t.Traceparent != "" && t.TraceId == 0 && f.Emit != nil
	if bad || embedded {
		tl := f.timeline(entryOf(t), now, actor, actorID)
		tl.Status, tl.Sense, tl.Bad = status, sense, bad
		if bad {
			logTimeline(f.log, tl, f.why(t), false)
		}
		if f.Emit != nil {
			f.Emit(tl)
		}
	}
}

// why names the flight bits for the log.
func (f *Flight) why(t *pb.ScsiTask) string {
	var w []string
	for _, b := range []struct {
		bit  uint32
		name string
	}{{FlightRetried, "retried"}, {FlightAbandoned, "abandoned"}, {FlightAborted, "aborted"}, {FlightFault, "fault"},
		{FlightOrderWait, "orderwait"}, {FlightLockWait, "lockwait"}} {
		if t.Flight&b.bit != 0 {
			w = append(w, b.name)
		}
	}
	return strings.Join(w, ",")
}

// timeline is the LUN-side timeline of an untraced task.
func (f *Flight) timeline(t flightEntry, end int64, actor, actorID string) *Timeline {
	tl := &Timeline{ID: taskID(t, f.Target), TraceParent: t.traceparent}
	add := func(h Hop, tns int64, a string) {
		if tns != 0 {
			tl.Events = append(tl.Events, Event{Hop: h, TNs: tns, Actor: a})
		}
	}
	add(HopLUN, t.arrived, ActorLUN)
	add(HopQueued, t.queued, ActorLUN)
	add(HopBackendStart, t.ioStart, ActorWorker)
	add(HopBackendEnd, t.ioEnd, ActorWorker)
	tl.Events = append(tl.Events, Event{Hop: HopCompleted, TNs: end, Actor: actor, ActorID: actorID})
	return tl
}

// Recent returns the LUN's last finished tasks as LUN-side timelines, by arrival
// (end times are unknown once the ring holds them: the last hop shown is the
// backend's end, or the arrival).
func (f *Flight) Recent() []*Timeline {
	var out []*Timeline
	for k := range f.shards {
		s := &f.shards[k]
		s.mu.Lock()
		n, size := s.next, uint64(len(s.ring))
		var kept []flightEntry
		for i := n - min(n, size); i < n; i++ {
			kept = append(kept, s.ring[i%size])
		}
		s.mu.Unlock()
		for _, t := range kept {
			tl := f.timeline(t, 0, "", "")
			tl.Events = tl.Events[:len(tl.Events)-1]
			out = append(out, tl)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Begin() < out[j].Begin() })
	return out
}

// taskID is the identity a ScsiTask carries (its nexus is "initiator,i,0xISID";
// the TSIH it does not carry).
func taskID(t flightEntry, target string) TaskID {
	id := TaskID{Target: target, ITT: t.itt, CmdSN: t.cmdSN, LUN: t.lun, Opcode: t.opcode}
	var rest string
	id.Initiator, rest, _ = strings.Cut(t.nexus, ",")
	if _, x, ok := strings.Cut(rest, ",0x"); ok {
		if b, err := hex.DecodeString(fmt.Sprintf("%012s", x)); err == nil && len(b) == 6 {
			copy(id.ISID[:], b)
		}
	}
	return id
}

// LogTimeline logs tl as one warn record: the flight recorder's line.
func LogTimeline(log hclog.Logger, tl *Timeline, why string) { logTimeline(log, tl, why, true) }

// logTimeline is LogTimeline; where names the target and LUN (a LUN's own logger
// names them already), and a TSIH the task does not know (0) is left out.
func logTimeline(log hclog.Logger, tl *Timeline, why string, where bool) {
	id := tl.ID
	var args []any
	if where {
		args = append(args, "target", id.Target)
	}
	args = append(args, "initiator", safeText(id.Initiator), "isid", fmt.Sprintf("%x", id.ISID[:]))
	if id.TSIH != 0 {
		args = append(args, "tsih", id.TSIH)
	}
	args = append(args, "itt", fmt.Sprintf("0x%x", id.ITT), "cmdsn", id.CmdSN)
	if where {
		args = append(args, "lun", id.LUN)
	}
	args = append(args, "opcode", fmt.Sprintf("0x%02x", id.Opcode), "status", fmt.Sprintf("0x%02x", tl.Status))
	if len(tl.Sense) > 0 {
		args = append(args, "sense", fmt.Sprintf("%x", tl.Sense))
	}
	if why != "" {
		args = append(args, "why", why)
	}
	args = append(args, "took", tl.Duration().String(), "hops", FormatHops(tl))
	if tl.Dropped > 0 {
		args = append(args, "dropped_events", tl.Dropped)
	}
	log.Warn("flight record: task ended badly", args...)
}

// FormatHops renders a timeline's hops on one line: each hop with its actor and
// the time since the first, its result when it has one.
func FormatHops(tl *Timeline) string {
	var b strings.Builder
	for i, e := range tl.Events {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s@%s+%s", e.Hop, e.Actor, time.Duration(e.TNs-tl.Begin()))
		if e.Result != "" {
			fmt.Fprintf(&b, "(%s)", e.Result)
		}
		if e.Detail != "" {
			fmt.Fprintf(&b, "[%s]", e.Detail)
		}
	}
	return b.String()
}

// safeText is s for a log line: as it is when it is printable, else quoted (Go
// syntax), so that a name with a newline or a terminal escape (an embedder's nexus;
// logins refuse such initiator names) cannot forge a line of its own.
func safeText(s string) string {
	for _, r := range s {
		if r < 0x20 || (r >= 0x7F && r < 0xA0) || r == utf8.RuneError {
			return strconv.Quote(s)
		}
	}
	return s
}
