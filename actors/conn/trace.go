package conn

import (
	"github.com/atgt/atgt/actors/login"
	"github.com/atgt/atgt/actors/trace"
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/iscsi"
)

// Tracing (actors/trace) on the connection's side of a task: the command PDU read,
// the task made (and the decision to trace it, from the level and filters, once),
// R2Ts and Data-Out, task management, the completion received, the response handed
// to the writer and written. The connection keeps its traced tasks by ITT; with
// none traced, the only cost is the decision per command.

// connTrace is the connection's trace state (actor-owned but tc, which the reader
// and writer use through the atomic pointer and the batches).
type connTrace struct {
	tc *trace.Conn
	// live are the traced tasks by ITT, until their response is queued.
	live map[uint32]*trace.Record
	// got are the ITTs whose completion arrived and may have ended without a response.
	got []uint32
}

// traceLogin starts the connection's trace after a normal session's login.
func (c *connActor) traceLogin(r login.Result) {
	if c.cfg.Tracer == nil || r.SessionType == login.SessionDiscovery {
		return
	}
	c.tr.tc = c.cfg.Tracer.NewConn(r.InitiatorName, r.Target.Name, r.ISID, c.cfg.TSIH)
	c.tr.tc.ActorID = c.self.Id
	c.tr.live = map[uint32]*trace.Record{}
	c.rtrace.Store(c.tr.tc)
}

// tracePDU records what a PDU does to traced tasks, and decides whether the task a
// SCSI Command just made is traced (after the machine took the PDU).
func (c *connActor) tracePDU(in *pduIn) {
	h := &in.p.BHS
	switch h.Opcode() {
	case iscsi.OpSCSICmd:
		c.traceCommand(in)
	case iscsi.OpDataOut:
		if len(c.tr.live) == 0 {
			return
		}
		if r := c.tr.live[h.ITT()]; r != nil {
			r.AddMinor(trace.Event{Hop: trace.HopDataOut, Actor: trace.ActorConn, ActorID: c.self.Id, Message: trace.MsgPDU,
				TNs: in.at, Bytes: int64(len(in.p.Data))})
		}
	case iscsi.OpTaskMgmtReq:
		if len(c.tr.live) == 0 {
			return
		}
		fn := h.TMFFunction()
		for itt, r := range c.tr.live {
			if fn != 1 || itt == h.ReferencedTaskTag() { // 1: ABORT TASK names one
				r.Add(trace.Event{Hop: trace.HopTMF, Actor: trace.ActorConn, ActorID: c.self.Id, Message: trace.MsgPDU,
					Detail: pb.TmfFunction(fn).String()})
			}
		}
	}
}

// traceCommand decides whether the task the command PDU in made is traced: the
// task is in the CommandOrder the machine just queued for the session.
func (c *connActor) traceCommand(in *pduIn) {
	msgs := c.m.Out.Msgs
	if len(msgs) == 0 || c.tr.tc.Level() == trace.Off {
		return
	}
	o, ok := msgs[len(msgs)-1].M.(*pb.CommandOrder)
	if !ok || o.Task == nil || o.Task.Itt != in.p.BHS.ITT() {
		return
	}
	t := o.Task
	var op uint8
	if len(t.Cdb) > 0 {
		op = t.Cdb[0]
	}
	r, id := c.tr.tc.Start(t.Itt, t.CmdSn, t.Lun, op)
	if r == nil {
		return
	}
	if old := c.tr.live[t.Itt]; old != nil {
		c.traceEnd(old, "ITT reused")
	}
	t.TraceId = id
	c.tr.live[t.Itt] = r
	at := in.at
	if at == 0 {
		at = trace.Now()
	}
	r.Add(trace.Event{Hop: trace.HopReceived, Actor: trace.ActorReader, ActorID: c.self.Id, Message: trace.MsgPDU,
		TNs: at, Bytes: int64(len(in.p.Data))})
	r.AddMsg(trace.Event{Hop: trace.HopAdmitted, Actor: trace.ActorConn, ActorID: c.self.Id, Message: trace.MsgOrder}, o)
}

// traceCompletion records a traced task's completion arriving.
func (c *connActor) traceCompletion(m *pb.ScsiCompletion) {
	r := c.tr.live[m.Itt]
	if r == nil {
		return
	}
	r.SetOutcome(uint8(m.Status), m.Sense)
	r.AddMsg(trace.Event{Hop: trace.HopResponse, Actor: trace.ActorConn, ActorID: c.self.Id, Message: trace.MsgCompletion}, m)
	c.tr.got = append(c.tr.got, m.Itt)
}

// traceDispatch records a traced task sent on once its write data arrived.
func (c *connActor) traceDispatch(t *pb.ScsiTask) {
	trace.AddMsg(t.TraceId, trace.Event{Hop: trace.HopDispatched, Actor: trace.ActorConn, ActorID: c.self.Id,
		Message: trace.MsgTask}, t)
}

// traceOut looks through the PDUs going to the writer: R2Ts of traced tasks are
// recorded, and the tasks whose final status they carry leave live, to be finished
// by the writer once written.
func (c *connActor) traceOut(pdus []*iscsi.PDU) []*trace.Record {
	var done []*trace.Record
	for _, p := range pdus {
		h := &p.BHS
		r := c.tr.live[h.ITT()]
		if r == nil {
			continue
		}
		switch op := h.Opcode(); {
		case op == iscsi.OpR2T:
			r.AddMinor(trace.Event{Hop: trace.HopR2T, Actor: trace.ActorConn, ActorID: c.self.Id, Message: trace.MsgPDU,
				Bytes: int64(h.DesiredDataTransferLength())})
		case op == iscsi.OpSCSIResp || (op == iscsi.OpDataIn && h.HasStatus()):
			if r.Status() == 0 && h.Status() != 0 {
				r.SetOutcome(h.Status(), nil) // answered by the connection itself
			}
			r.Add(trace.Event{Hop: trace.HopQueuedOut, Actor: trace.ActorConn, ActorID: c.self.Id, Message: trace.MsgPDU})
			delete(c.tr.live, h.ITT())
			done = append(done, r)
		}
	}
	return done
}

// traceEnded finishes the traced tasks whose completion arrived but that ended
// without a response (aborted by a task management function), once no PDU waits.
func (c *connActor) traceEnded() {
	for _, itt := range c.tr.got {
		if r := c.tr.live[itt]; r != nil && !c.m.HasTask(itt) {
			delete(c.tr.live, itt)
			r.MarkBad()
			c.traceEnd(r, "aborted")
		}
	}
	c.tr.got = c.tr.got[:0]
}

// traceEnd finishes r without a response.
func (c *connActor) traceEnd(r *trace.Record, why string) {
	r.Add(trace.Event{Hop: trace.HopEnded, Actor: trace.ActorConn, ActorID: c.self.Id, Result: why})
	c.tr.tc.Finish(r)
}

// traceClose finishes every traced task still open and closes the trace.
func (c *connActor) traceClose() {
	if c.tr.tc == nil {
		return
	}
	for itt, r := range c.tr.live {
		delete(c.tr.live, itt)
		c.traceEnd(r, "connection ended")
	}
	c.tr.tc.Close()
}

// traceWritten finishes the records of a batch the writer sent (or could not).
func traceWritten(tc *trace.Conn, recs []*trace.Record, err error) {
	for _, r := range recs {
		e := trace.Event{Hop: trace.HopWritten, Actor: trace.ActorWriter, ActorID: tc.ActorID}
		if err != nil {
			e.Hop, e.Result = trace.HopEnded, "write failed"
			r.MarkBad()
		}
		r.Add(e)
		tc.Finish(r)
	}
}
