package cmdphase

// CheckDataOut ends the connection when a task has waited for Data-Out the
// initiator owes it (an R2T not fully answered, or unsolicited data it announced)
// and none came for three checks in a row: the connection calls it every 9/16 of
// DataOutTimeout, so the task waited between 1.1 and 2.25 DataOutTimeouts.
// RFC 7143 leaves the Data-Out timeout to the target; at ErrorRecoveryLevel 0 there
// is no recovery R2T, and the task cannot be answered while its Data-Out may still
// come (7.8), so the connection is dropped, as LIO does, and the session's tasks
// end with it. It frees the write data such a task holds at once. It costs the data
// path nothing: one counter per Data-Out PDU, and this walk over the connection's
// tasks every half timeout while one waits. It reports whether a task still waits
// for Data-Out (the connection then calls it again).
func (m *Machine) CheckDataOut() (waiting bool) {
	if m.Out.Close || m.Out.Over != "" {
		return false
	}
	for _, tk := range m.tasks {
		if tk.outstanding == 0 && tk.unsolLeft == 0 {
			tk.stalls = 0 // not waiting for the initiator
			continue
		}
		waiting = true
		if tk.progress != tk.seen {
			tk.seen, tk.stalls = tk.progress, 0
			continue
		}
		tk.stalls++
		if tk.stalls < 3 {
			continue
		}
		m.log.Warn("initiator sent no Data-Out for a task that waits for it; closing connection",
			"initiator", m.cfg.Login.InitiatorName, "itt", tk.t.Itt, "received", tk.received, "edtl", tk.edtl,
			"timeout", m.cfg.DataOutTimeout)
		m.nexusLost()
		m.over("data-out timeout")
		return false
	}
	return waiting
}
