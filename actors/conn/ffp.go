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
	case *pb.TaskManagementDone:
		c.m.TMFDone(m)
	case *pb.TaskSetAborted:
		c.m.AbortedByOther(m)
	case *actor.ReceiveTimeout:
		c.m.Tick(time.Now())
	case *RequestLogout:
		c.m.RequestLogout(m.Within)
	}
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
}
