package trace

import (
	"runtime"
	"sort"
	"sync/atomic"

	"google.golang.org/protobuf/proto"
)

// MaxEvents bounds one task's record; later events are counted in Dropped only. A
// READ makes 13, a WRITE with one R2T 16.
const MaxEvents = 24

// sealed marks a record whose events are final (the task finished).
const sealed = 1 << 31

// Record is one traced task's events while it travels, and after it finished. Its
// hops are mostly ordered by message passing, but the watchdog, a task management
// function and an abandoned call can touch a task concurrently with its worker, so
// an append reserves its slot with one compare-and-swap and publishes it with an
// atomic add; Seal waits for appends in progress, after which the record never
// changes and readers need no lock.
type Record struct {
	ID TaskID
	// seq names the record in its connection's live table (TraceId).
	seq  uint32
	full bool
	// reserved counts slots taken (sealed bit on top); written counts those filled.
	reserved atomic.Uint32
	written  atomic.Uint32
	dropped  atomic.Uint32
	// bad: the task ended in a way the flight recorder logs.
	bad atomic.Bool
	// finished is when the record was put in its connection's ring (trace clock,
	// unique and increasing over the tracer: Tracer.publish), the cursor of Since.
	finished atomic.Int64
	// Set by the connection before Seal.
	status uint8
	sense  []byte
	ev     [MaxEvents]slot
	// msgs holds the events' messages, at level Full only.
	msgs *[MaxEvents]proto.Message
}

// slot is an Event as a record keeps it: the actor and message kinds as numbers
// and the message apart, so that a light record is small (it is allocated per task).
type slot struct {
	tns, bytes              int64
	actorID, result, detail string
	hop                     Hop
	actor, message          uint8
}

// Full reports whether the record keeps messages (level Full at its start).
func (r *Record) Full() bool { return r.full }

// Add appends e, stamped now unless it has a time; after Seal it is dropped.
func (r *Record) Add(e Event) {
	if e.TNs == 0 {
		e.TNs = Now()
	}
	for {
		s := r.reserved.Load()
		if s&sealed != 0 {
			return
		}
		if s >= MaxEvents {
			r.dropped.Add(1)
			return
		}
		if r.reserved.CompareAndSwap(s, s+1) {
			r.ev[s] = slot{tns: e.TNs, bytes: e.Bytes, actorID: e.ActorID, result: e.Result, detail: e.Detail,
				hop: e.Hop, actor: actorKind(e.Actor), message: messageKind(e.Message)}
			if e.Msg != nil && r.msgs != nil {
				r.msgs[s] = e.Msg
			}
			r.written.Add(1)
			return
		}
	}
}

// minorRoom is how many slots the hops that occur once per task keep free from
// the ones that may repeat (R2T, Data-Out): a large WRITE's many Data-Out PDUs
// never crowd out its completion and response.
const minorRoom = 14

// AddMinor appends e, a hop that may repeat, unless only minorRoom slots are left.
func (r *Record) AddMinor(e Event) {
	if r.reserved.Load()&^sealed >= MaxEvents-minorRoom {
		r.dropped.Add(1)
		return
	}
	r.Add(e)
}

// AddMsg appends e with m, stripped of its data fields, when the record is Full.
func (r *Record) AddMsg(e Event, m proto.Message) {
	if r.full && m != nil {
		e.Msg = Strip(m)
	}
	r.Add(e)
}

// MarkBad has the flight recorder log the task when it finishes.
func (r *Record) MarkBad() { r.bad.Store(true) }

// SetOutcome records the SCSI status and sense the task was answered (sense is
// copied: it is small, and only for a status other than GOOD).
func (r *Record) SetOutcome(status uint8, sense []byte) {
	r.status = status
	if len(sense) > 0 {
		r.sense = append([]byte(nil), sense...)
	}
	if BadStatus(status, sense) {
		r.bad.Store(true)
	}
}

// Status is the SCSI status SetOutcome recorded.
func (r *Record) Status() uint8 { return r.status }

// Seal ends the record: no event is added after it returns. It returns how many
// events it holds.
func (r *Record) Seal() int {
	s := r.reserved.Or(sealed) &^ sealed
	for r.written.Load() < s {
		runtime.Gosched()
	}
	return int(s)
}

// sealedEvents are the events of a sealed record, sorted by time (a concurrent
// append can land a slot late).
func (r *Record) sealedEvents() []Event {
	n := int(r.reserved.Load() &^ sealed)
	ev := make([]Event, n)
	for i := range n {
		s := &r.ev[i]
		ev[i] = Event{Hop: s.hop, Actor: actorNames[s.actor], ActorID: s.actorID, Message: messageNames[s.message],
			TNs: s.tns, Bytes: s.bytes, Result: s.result, Detail: s.detail}
		if r.msgs != nil {
			ev[i].Msg = r.msgs[i]
		}
	}
	sort.SliceStable(ev, func(i, j int) bool { return ev[i].TNs < ev[j].TNs })
	return ev
}

// Timeline returns the finished record as a Timeline (a copy: the caller may keep it).
func (r *Record) Timeline() *Timeline {
	return &Timeline{ID: r.ID, Events: r.sealedEvents(), Status: r.status, Sense: r.sense, Bad: r.bad.Load(),
		Dropped: r.Dropped()}
}

// Dropped counts the events past MaxEvents.
func (r *Record) Dropped() int { return int(r.dropped.Load()) }

// BadStatus reports a SCSI answer the flight recorder logs: CHECK CONDITION other
// than a unit attention, or TASK ABORTED.
func BadStatus(status uint8, sense []byte) bool {
	switch status {
	case 0x02: // CHECK CONDITION
		return SenseKey(sense) != 0x06
	case 0x40: // TASK ABORTED
		return true
	}
	return false
}

// SenseKey is the sense key of fixed or descriptor format sense data (0 if none).
func SenseKey(sense []byte) uint8 {
	if len(sense) < 3 {
		return 0
	}
	switch sense[0] & 0x7f {
	case 0x70, 0x71:
		return sense[2] & 0x0f
	case 0x72, 0x73:
		return sense[1] & 0x0f
	}
	return 0
}

// The actor and message kinds a slot numbers (0: none, or a name not listed).
var (
	actorNames   = [...]string{"", ActorReader, ActorConn, ActorSession, ActorDisp, ActorLUN, ActorWorker, ActorWriter}
	messageNames = [...]string{"", MsgPDU, MsgOrder, MsgTask, MsgIO, MsgCompletion, MsgTMF}
)

func actorKind(s string) uint8 {
	for i, n := range actorNames {
		if n == s {
			return uint8(i)
		}
	}
	return 0
}

func messageKind(s string) uint8 {
	for i, n := range messageNames {
		if n == s {
			return uint8(i)
		}
	}
	return 0
}
