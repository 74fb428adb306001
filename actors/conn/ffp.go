package conn

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"

	pb "github.com/atgt/atgt/messages/atgtv1"
)

// fullFeature is the behaviour after a successful login: every input goes to the
// command phase's machine; Receive then carries out its outbox.
func (c *connActor) fullFeature(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *pduIn:
		c.pduIn(m)
	case *pduBatch:
		for _, in := range m.items {
			c.pduIn(in)
			if len(c.m.Out.PDUs) >= maxTurnPDUs {
				c.drain(ctx)
			}
		}
	case *dataDigestFailed:
		c.cfg.Metrics.DigestError(false)
		c.m.DataDigestError(&m.p.BHS)
	case *pb.CommandReady:
		c.m.Ready(m)
	case *pb.ScsiCompletion:
		if len(c.tr.live) > 0 {
			c.traceCompletion(m)
		}
		c.m.Complete(m)
		// The completion may live on in its IO worker's slab chunk: it must not
		// keep the Data-In buffer (back in the pool once written) reachable.
		m.DataIn = nil
	case *pb.TaskManagementDone:
		c.m.TMFDone(m)
	case *pb.TaskSetAborted:
		c.m.AbortedByOther(m)
	case *actor.ReceiveTimeout:
		c.m.Tick(time.Now())
	case *RequestLogout:
		c.m.RequestLogout(m.Within)
	case *dataCheck:
		c.m.CheckDataOut()
		c.dataCheck.Reset(c.cfg.DataOutTimeout / 2)
	}
}

// dataCheck is the timer's call for the machine's CheckDataOut. It does not count
// as activity: the NOP-In timer (the actor's receive timeout) runs on through it.
type dataCheck struct{}

// NotInfluenceReceiveTimeout marks dataCheck as not resetting the receive timeout.
func (*dataCheck) NotInfluenceReceiveTimeout() {}

var dataCheckMsg = &dataCheck{}

// armDataCheck starts the timer of the Data-Out timeout (DataOutTimeout), which
// the connection re-arms each time it fires, and stops when the actor does.
func (c *connActor) armDataCheck(ctx actor.Context) {
	if c.cfg.DataOutTimeout <= 0 {
		return
	}
	root, self := ctx.ActorSystem().Root, ctx.Self()
	c.dataCheck = time.AfterFunc(c.cfg.DataOutTimeout/2, func() { root.Send(self, dataCheckMsg) })
}

// pduIn takes one PDU from the reader (alone or from a batch, in order).
func (c *connActor) pduIn(m *pduIn) {
	if c.log.IsDebug() {
		c.log.Debug("pdu in", "pdu", m.p.String())
	}
	c.cfg.Stats.countIn(m.p)
	c.m.PDU(m.p, m.pooled)
	if c.tr.tc != nil {
		c.tracePDU(m)
	}
	if m.pooled {
		// The buffer is a task's now, or back in the pool. The record lives on in
		// the reader's slab chunk, which a task's CDB (a slice of the header)
		// keeps reachable while a LUN's IO record points to the task.
		m.p.Data = nil
	}
}
