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
	case *silenceCheck:
		if c.silent(ctx, m) {
			c.m.Tick(time.Now())
		}
	case *RequestLogout:
		c.m.RequestLogout(m.Within)
	case *dataCheck:
		c.dataArmed = false
		if c.m.CheckDataOut() {
			c.armDataCheck(ctx)
		}
	}
}

// dataCheck is the timer's call for the machine's CheckDataOut. It runs only while
// a task waits for Data-Out, so it delays no NOP-In ping of an idle connection (it
// resets the actor's receive timeout like any message; protoactor's messages that
// do not are read racily by its timer): a connection whose initiator owes Data-Out
// and sends nothing is dropped by the Data-Out timeout instead.
type dataCheck struct{}

var dataCheckMsg = &dataCheck{}

// dataCheckInterval is the time between the machine's CheckDataOut calls: a little
// over half the timeout, so that three checks in a row without Data-Out span at
// least the timeout (cmdphase.Machine.CheckDataOut), and never in step with a NOP
// interval of half the timeout. A receive timeout that fires while the actor takes a
// message races in protoactor (its timer goroutine cancels the timeout the actor's
// goroutine reads), and a check armed in step with it would meet it every time.
func dataCheckInterval(timeout time.Duration) time.Duration { return timeout * 9 / 16 }

// armDataCheck has the machine's CheckDataOut called after dataCheckInterval,
// unless it is due already. The timer stops when the actor does.
func (c *connActor) armDataCheck(ctx actor.Context) {
	if c.cfg.DataOutTimeout <= 0 || c.dataArmed {
		return
	}
	c.dataArmed = true
	d := dataCheckInterval(c.cfg.DataOutTimeout)
	if c.dataCheck != nil {
		c.dataCheck.Reset(d)
		return
	}
	root, self := ctx.ActorSystem().Root, ctx.Self()
	c.dataCheck = time.AfterFunc(d, func() { root.Send(self, dataCheckMsg) })
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
	// The data is a task's now, or back in the pool, or the machine's copy of the
	// request holds it (cmdphase keeps no PDU record it is given). The record lives
	// on in the reader's slab chunk, which a task's CDB (a slice of the header)
	// keeps reachable while a LUN's IO record points to the task, as the reader's
	// current chunk stays: it must not keep up to 32 PDUs' data reachable (NOP-Out
	// ping data, rejected requests').
	m.p.Data = nil
}
