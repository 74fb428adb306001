package trace

// The hops of a task's path, in the order a READ meets them (a WRITE with R2T adds
// HopR2T, HopDataOut and HopDispatched between HopOrdered and HopLUN).
const (
	// HopReceived: the reader parsed the SCSI Command PDU off the socket.
	HopReceived Hop = iota + 1
	// HopAdmitted: the connection's command phase made the ScsiTask and sent it
	// to the session for ordering.
	HopAdmitted
	// HopOrdered: the session released it in CmdSN order (to its LUN, or back to
	// the connection for its Data-Out).
	HopOrdered
	// HopR2T: the connection queued an R2T for it (Bytes: the length asked).
	HopR2T
	// HopDataOut: a Data-Out PDU of it arrived (Bytes: its data).
	HopDataOut
	// HopDispatched: its write data is complete and the connection sent it on.
	HopDispatched
	// HopLUN: it reached its LUN actor.
	HopLUN
	// HopOrderWait: the LUN queued it behind an ORDERED task (or as one).
	HopOrderWait
	// HopChecked: the device model's checks ran (Result "pass", or what failed:
	// unit attention, reservation conflict, check condition).
	HopChecked
	// HopLockWait: it waits for a range lock (COMPARE AND WRITE, ORWRITE about).
	HopLockWait
	// HopQueued: the LUN handed its IO to the worker pool (Detail: merged runs).
	HopQueued
	// HopWorker: an IO worker took its IO.
	HopWorker
	// HopBackendStart and HopBackendEnd bracket the backend call (Bytes, Result).
	HopBackendStart
	HopBackendEnd
	// HopCompleted: the LUN or worker sent its ScsiCompletion (Result: status).
	HopCompleted
	// HopResponse: the connection received the completion.
	HopResponse
	// HopQueuedOut: the response PDUs were handed to the writer.
	HopQueuedOut
	// HopWritten: the writer's writev with its response returned.
	HopWritten
	// HopTMF: a task management function naming it (or its LUN) arrived.
	HopTMF
	// HopAborted: a task management function ended it.
	HopAborted
	// HopRetry: its worker crashed and its IO was sent to a fresh one.
	HopRetry
	// HopFault: an injected fault fired on it.
	HopFault
	// HopAbandoned: its backend call passed the LUN's ioTimeout (or an abort's
	// grace) and was given up on.
	HopAbandoned
	// HopEnded: it ended without a response (connection closed, aborted).
	HopEnded
	numHops
)

var hopNames = [numHops]string{"?", "received", "admitted", "ordered", "r2t", "dataout", "dispatched", "lun",
	"orderwait", "checked", "lockwait", "queued", "worker", "backend.start", "backend.end", "completed",
	"response", "queuedout", "written", "tmf", "aborted", "retry", "fault", "abandoned", "ended"}

// String is the hop's name, as atgtctl and the flight recorder show it.
func (h Hop) String() string {
	if h < numHops {
		return hopNames[h]
	}
	return "?"
}

// ParseHop returns the hop a name stands for (0 if none).
func ParseHop(s string) Hop {
	for i, n := range hopNames {
		if i > 0 && n == s {
			return Hop(i)
		}
	}
	return 0
}

// Hops lists every hop in path order, for tables.
func Hops() []Hop {
	out := make([]Hop, 0, numHops-1)
	for h := Hop(1); h < numHops; h++ {
		out = append(out, h)
	}
	return out
}

// The actor kinds of Event.Actor.
const (
	ActorReader  = "reader"
	ActorConn    = "conn"
	ActorSession = "session"
	ActorDisp    = "dispatcher"
	ActorLUN     = "lun"
	ActorWorker  = "worker"
	ActorWriter  = "writer"
)

// The message types of Event.Message.
const (
	MsgPDU        = "PDU"
	MsgOrder      = "CommandOrder"
	MsgTask       = "ScsiTask"
	MsgIO         = "IoRequest"
	MsgCompletion = "ScsiCompletion"
	MsgTMF        = "TaskManagement"
)

// String names the level as the -trace flag does.
func (l Level) String() string {
	switch l {
	case Light:
		return "light"
	case Full:
		return "full"
	}
	return "off"
}

// ParseLevel reads a level name: off, light or full.
func ParseLevel(s string) (Level, bool) {
	switch s {
	case "off", "":
		return Off, true
	case "light":
		return Light, true
	case "full":
		return Full, true
	}
	return Off, false
}
