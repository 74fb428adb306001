// Package trace records each SCSI task's path through the actors: one event per hop
// (PDU received, ordered by the session, handed to the LUN, checks, IO worker,
// backend call, completion, response written, ...), kept in bounded in-memory rings,
// assembled into a task's timeline when it finishes, read by the admin API
// (atgtctl trace), logged whole when a task ends badly (the flight recorder), and
// handed to sinks such as the OpenTelemetry exporter.
package trace

import "google.golang.org/protobuf/proto"

// Level is how much is recorded.
type Level int32

// The levels, as atgtd's -trace flag and atgtctl trace level name them.
const (
	// Off records nothing beyond what the flight recorder keeps.
	Off Level = iota
	// Light records every hop's event, without the messages.
	Light
	// Full records every hop's event with the protobuf message it carried.
	Full
)

// TaskID is a task's identity as its initiator knows it.
type TaskID struct {
	Initiator string
	Target    string
	ISID      [6]byte
	TSIH      uint16
	ITT       uint32
	CmdSN     uint32
	LUN       uint64
	Opcode    uint8
}

// Hop names what happened to a task at one point of its path.
type Hop uint8

// Event is one hop of one task.
type Event struct {
	Hop Hop
	// Actor is the kind of actor (or goroutine) where the hop happened ("conn",
	// "session", "lun", "worker", "reader", "writer") and ActorID its PID id.
	Actor, ActorID string
	// Message is the type of the message that carried the task into this hop
	// ("ScsiTask", "IoRequest", "ScsiCompletion"), or "" for a hop that is not a
	// message (a backend call).
	Message string
	// TNs is a monotonic timestamp in nanoseconds.
	TNs int64
	// Bytes and Result describe a backend call or a PDU (bytes moved; the syscall's
	// result or the status), Detail anything else worth a word (the check failed,
	// the fault fired).
	Bytes  int64
	Result string
	Detail string
	// Msg is the message itself, at level Full only (never payload bytes copied:
	// data fields are left out).
	Msg proto.Message
}

// Timeline is one task's events in order, once it finished.
type Timeline struct {
	ID     TaskID
	Events []Event
	// Status is the SCSI status answered (0 GOOD), Sense its sense data; Bad is set
	// for an end the flight recorder logs (CHECK CONDITION other than a unit
	// attention, aborted, timed out, retried after a worker crash).
	Status uint8
	Sense  []byte
	Bad    bool
	// TraceParent is the W3C traceparent the task's ScsiTask carried (set by an
	// embedder that submits tasks to LUN actors itself), so that a sink such as
	// the OpenTelemetry exporter continues the embedder's trace; "" for tasks
	// from the network.
	TraceParent string
	// Dropped counts the events the record had no room for (MaxEvents): the
	// timeline is cut short, its last hops missing.
	Dropped int
}

// Sink receives each finished task's timeline (an exporter). It must not block and
// must not keep the timeline's slices past the call unless it copies them.
type Sink interface {
	Finished(*Timeline)
}
