package cmdphase

import (
	"github.com/atgt/atgt/actors/cmdsn"
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/iscsi"
)

// The session owns the CmdSN window (RFC 7143 4.2.2.1). The connection learns
// ExpCmdSN from the session's messages only: every CommandReady carries the
// session's ExpCmdSN after it ordered the command, and every task the session
// releases carries it too (ScsiTask.exp_cmd_sn), read when the task's completion
// comes back. Since the session processes the connection's orders in the order they
// were sent, a value learned with an answer covers every command ordered before
// that answer's request.

// learn takes an ExpCmdSN the session reported; ExpCmdSN never moves backwards.
func (m *Machine) learn(exp uint32) {
	if cmdsn.Less(m.exp, exp) {
		m.exp = exp
		m.ahead.passed(exp)
	}
}

// Ready runs a request the session released in CmdSN order (or dropped, for a CmdSN
// outside the window or repeated: RFC 7143 has the target drop those silently).
func (m *Machine) Ready(r *pb.CommandReady) {
	m.learn(r.ExpCmdSn)
	if r.Task == nil && r.Itt == cmdsn.PlaceholderITT {
		return // a CmdSN consumed without a request (see consume)
	}
	if r.Task != nil {
		m.readyTask(r)
		return
	}
	req, ok := m.others[r.Itt]
	if !ok {
		return
	}
	p := req.p
	delete(m.others, r.Itt)
	m.unholdRequest(req)
	if r.Dropped || m.Out.Close {
		return
	}
	switch p.BHS.Opcode() {
	case iscsi.OpNopOut:
		m.nopIn(p)
	case iscsi.OpTextReq:
		m.text(p)
	case iscsi.OpLogoutReq:
		m.logout(p)
	case iscsi.OpTaskMgmtReq:
		m.taskMgmt(p, req.arrival)
	}
}

// readyTask runs a SCSI task the session released: it is answered at once when
// admission decided so, else its write data is solicited and it goes to its LUN once
// the data is there.
func (m *Machine) readyTask(r *pb.CommandReady) {
	tk := m.tasks[r.Itt]
	if tk == nil || tk.t != r.Task {
		// Answered already (its completion overtook this message), and the
		// initiator may have reused the ITT for a newer task: leave that alone.
		return
	}
	if r.Dropped {
		m.forget(tk) // never answered: the initiator sees a CmdSN gap
		return
	}
	tk.ordered = true
	if tk.preAnswer {
		m.finishTask(tk, tk.preStatus, tk.preSense, nil, 0, nil)
		return
	}
	m.solicit(tk)
	m.maybeDispatch(tk)
}

// window fills ExpCmdSN and MaxCmdSN. MaxCmdSN leaves room for the queue depth minus
// the tasks the connection still holds (running, or waiting for their Data-Out), and
// never moves backwards.
func (m *Machine) window(h *iscsi.BHS) {
	exp := m.exp
	depth := m.cfg.QueueDepth
	// The tasks the session has passed in CmdSN order (CmdSN below ExpCmdSN, or
	// immediate) and that are not answered yet: every task but those at or beyond
	// ExpCmdSN, which the window's own span covers.
	busy := uint32(len(m.tasks) - m.ahead.live)
	if busy > depth {
		busy = depth
	}
	// With depth tasks busy the window is closed: MaxCmdSN = ExpCmdSN - 1.
	max := exp + depth - 1 - busy
	if cmdsn.Less(max, m.lastMax) {
		max = m.lastMax
	}
	m.lastMax = max
	h.SetExpCmdSN(exp)
	h.SetMaxCmdSN(max)
}
