package lun

import (
	"errors"

	"google.golang.org/protobuf/proto"

	"github.com/atgt/atgt/actors/trace"
	"github.com/atgt/atgt/backend/faults"
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/scsi"
)

// Tracing (actors/trace). Every hook is behind a test of the task's trace_id, so
// an untraced task pays one branch per hop; the flight recorder's fields (the
// times of the LUN-side hops and the flight bits) are written for every task, a
// few plain stores and clock reads, and each answer passes the LUN's Flight.

// hop records a LUN-side hop of a traced task t (the caller tested TraceId).
func (l *lunActor) hop(t *pb.ScsiTask, h trace.Hop, m proto.Message, result, detail string) {
	e := trace.Event{Hop: h, Actor: trace.ActorLUN, ActorID: l.selfID(), Result: result, Detail: detail}
	if m != nil {
		e.Message = msgName(m)
	}
	trace.AddMsg(t.TraceId, e, m)
}

func (l *lunActor) selfID() string {
	if l.self == nil {
		return ""
	}
	return l.self.Id
}

// msgName is the type name of a message a hop records.
func msgName(m proto.Message) string {
	switch m.(type) {
	case *pb.ScsiTask:
		return trace.MsgTask
	case *pb.IoRequest:
		return trace.MsgIO
	case *pb.ScsiCompletion:
		return trace.MsgCompletion
	}
	return string(m.ProtoReflect().Descriptor().Name())
}

// flag sets flight bits on every task of io, and records hop h for the traced ones.
func (l *lunActor) flag(io *pb.IoRequest, bit uint32, h trace.Hop, detail string) {
	each(io, func(t *pb.ScsiTask) {
		t.Flight |= bit
		if t.TraceId != 0 {
			l.hop(t, h, nil, "", detail)
		}
	})
}

// each calls f with io's task, or each part's.
func each(io *pb.IoRequest, f func(*pb.ScsiTask)) {
	if len(io.Parts) == 0 {
		if io.Task != nil {
			f(io.Task)
		}
		return
	}
	for _, p := range io.Parts {
		if p.Task != nil {
			f(p.Task)
		}
	}
}

// checked records the device model's verdict on a traced task.
func (l *lunActor) checked(t *pb.ScsiTask, status uint8, sense []byte, refused bool) {
	result, detail := "pass", ""
	switch {
	case status == scsi.StatusReservationConflict:
		result, detail = "fail", "reservation conflict"
	case status == scsi.StatusCheckCondition && trace.SenseKey(sense) == 0x06:
		result, detail = "fail", "unit attention"
	case status == scsi.StatusCheckCondition:
		result, detail = "fail", "check condition"
	case refused:
		result = "fail"
	}
	l.hop(t, trace.HopChecked, nil, result, detail)
}

// answered passes the LUN actor's answer c to t through the flight recorder.
func (l *lunActor) answered(t *pb.ScsiTask, c *pb.ScsiCompletion) {
	if t.TraceId != 0 {
		l.hop(t, trace.HopCompleted, c, statusName(c.Status), "")
	}
	l.cfg.Flight.Done(0, t, uint8(c.Status), c.Sense, trace.Now(), trace.ActorLUN, l.selfID())
}

// statusName names a SAM status for a hop's result.
func statusName(st uint32) string {
	switch st {
	case 0:
		return "GOOD"
	case 0x02:
		return "CHECK CONDITION"
	case 0x08:
		return "BUSY"
	case 0x18:
		return "RESERVATION CONFLICT"
	case 0x28:
		return "TASK SET FULL"
	case 0x40:
		return "TASK ABORTED"
	}
	return "status"
}

// started stamps the backend call's start on io's tasks, before the worker makes
// the call its own (slot.cur): the LUN reads the tasks only after that.
func (w *worker) started(io *pb.IoRequest, id string) {
	now := trace.Now()
	each(io, func(t *pb.ScsiTask) {
		t.IoStartNanos = now
		if t.TraceId != 0 {
			trace.AddMsg(t.TraceId, trace.Event{Hop: trace.HopWorker, Actor: trace.ActorWorker, ActorID: id,
				Message: trace.MsgIO, TNs: now}, io)
			trace.Add(t.TraceId, trace.Event{Hop: trace.HopBackendStart, Actor: trace.ActorWorker, ActorID: id,
				TNs: now, Bytes: io.Length, Detail: io.Kind.String()})
		}
	})
}

// ended stamps the call's end on io's tasks once the worker kept the call (the
// LUN did not abandon it): end is when it returned.
func (w *worker) ended(io *pb.IoRequest, end int64, id string) {
	fault, callErr := w.faulted, w.callErr
	if fault || callErr != nil {
		w.faulted, w.callErr = false, nil
	}
	each(io, func(t *pb.ScsiTask) {
		t.IoEndNanos = end
		if fault {
			t.Flight |= trace.FlightFault
		}
		if t.TraceId != 0 {
			result := "ok"
			if callErr != nil {
				result = "error: " + callErr.Error()
			}
			if fault {
				result = "injected error"
				trace.Add(t.TraceId, trace.Event{Hop: trace.HopFault, Actor: trace.ActorWorker, ActorID: id, TNs: end})
			}
			trace.Add(t.TraceId, trace.Event{Hop: trace.HopBackendEnd, Actor: trace.ActorWorker, ActorID: id,
				TNs: end, Bytes: io.Length, Result: result})
		}
	})
}

// noteFault remembers the call's error, and whether it came from an injected fault.
func (w *worker) noteFault(err error) {
	w.callErr = err
	if errors.Is(err, faults.ErrInjected) {
		w.faulted = true
	}
}

// done passes a worker's answer c to t through the flight recorder.
func (w *worker) done(t *pb.ScsiTask, c *pb.ScsiCompletion, now int64, id string) {
	if t.TraceId != 0 {
		trace.AddMsg(t.TraceId, trace.Event{Hop: trace.HopCompleted, Actor: trace.ActorWorker, ActorID: id,
			Message: trace.MsgCompletion, TNs: now, Result: statusName(c.Status)}, c)
	}
	shard := 0
	if w.slot != nil {
		shard = w.slot.index + 1
	}
	w.flight.Done(shard, t, uint8(c.Status), c.Sense, now, trace.ActorWorker, id)
}
