package cmdphase

import (
	"fmt"
	"time"

	"github.com/atgt/atgt/messages/iscsi"
)

// nopIn answers a NOP-Out that expects a reply, echoing its data (RFC 7143
// 11.18-11.19), cut to what the initiator said it can receive in one PDU
// (its MaxRecvDataSegmentLength): a longer one would break its reader.
func (m *Machine) nopIn(req *iscsi.PDU) {
	data := req.Data
	if max := m.maxSend(); max > 0 && uint32(len(data)) > max {
		data = data[:max]
	}
	p := &iscsi.PDU{Data: data}
	h := &p.BHS
	h.SetOpcode(iscsi.OpNopIn)
	h.SetFinal(true)
	h.SetLUN(req.BHS.LUN())
	h.SetITT(req.BHS.ITT())
	h.SetTTT(iscsi.ReservedTag)
	h.SetStatSN(m.nextStatSN())
	m.window(h)
	m.emit(p)
}

// Tick is the actor's timer: it comes after NopInterval (or, once a ping is out,
// NopTimeout) without any message. A silent initiator is pinged with a NOP-In; one
// that stays silent for NopTimeout after the ping loses its connection.
func (m *Machine) Tick(now time.Time) {
	if m.Out.Close || m.Out.Over != "" {
		return
	}
	if m.pingPending {
		if now.Sub(m.pingAt) < m.cfg.NopTimeout {
			m.Out.Rearm = m.cfg.NopTimeout - now.Sub(m.pingAt)
			return
		}
		m.log.Warn("initiator did not answer NOP-In; closing connection", "initiator", m.cfg.Login.InitiatorName)
		m.nexusLost()
		m.over("nop timeout")
		return
	}
	m.pingPending, m.pingAt = true, now
	m.Out.Rearm = m.cfg.NopTimeout
	p := &iscsi.PDU{}
	h := &p.BHS
	h.SetOpcode(iscsi.OpNopIn)
	h.SetFinal(true)
	h.SetITT(iscsi.ReservedTag)
	h.SetTTT(m.newTTT())
	h.SetStatSN(m.statSN) // not advanced: the ITT is reserved
	m.window(h)
	m.emit(p)
}

// logout answers a Logout Request and closes the connection after the response
// (RFC 7143 11.14-11.15). Closing or removing a connection names it by its CID
// (11.14.3): another CID than this connection's, the session's only one, is
// answered "CID not found" (11.15.1), and this connection goes on. Removing the
// connection for recovery needs ErrorRecoveryLevel 2, which this target does not
// offer. A reserved reason code (3-127, 11.14.1) is rejected as an invalid field.
func (m *Machine) logout(req *iscsi.PDU) {
	reason := req.BHS.LogoutReason()
	var response uint8
	switch {
	case reason > iscsi.LogoutRemoveConnection:
		m.reject(iscsi.RejectInvalidPDUField, &req.BHS)
		return
	case reason != iscsi.LogoutCloseSession && req.BHS.CID() != m.cfg.Login.CID:
		response = iscsi.LogoutRespCIDNotFound
	case reason == iscsi.LogoutRemoveConnection:
		response = iscsi.LogoutRespRecoveryNotSupported
	}
	p := &iscsi.PDU{}
	h := &p.BHS
	h.SetOpcode(iscsi.OpLogoutResp)
	h.SetFinal(true)
	h.SetResponse(response)
	h.SetITT(req.BHS.ITT())
	h.SetStatSN(m.nextStatSN())
	m.window(h)
	if response != 0 {
		m.emit(p)
		return
	}
	m.log.Info("logout", "initiator", m.cfg.Login.InitiatorName, "reason", reason)
	m.loggedOut = true
	m.nexusLost()
	m.sendAndClose(p)
	m.over(fmt.Sprintf("logout reason %d", reason))
}

// reject sends a Reject carrying the offending header (RFC 7143 11.17).
func (m *Machine) reject(reason uint8, bad *iscsi.BHS) {
	m.log.Debug("reject", "reason", reason, "opcode", bad.Opcode().String(), "itt", bad.ITT())
	m.cfg.Metrics.RejectedPDU()
	p := iscsi.NewReject(reason, bad)
	p.BHS.SetStatSN(m.nextStatSN())
	m.window(&p.BHS)
	m.emit(p)
}

// rejectCommand rejects a request whose header is sound but which the target will
// not run. The initiator may not send it again (RFC 7143 11.17.1 allows that only
// after a digest error), so a non-immediate one still takes its CmdSN: else the
// session would hold every later command behind the hole for ever.
func (m *Machine) rejectCommand(reason uint8, bad *iscsi.BHS) {
	m.reject(reason, bad)
	if !bad.Immediate() {
		m.consume(bad.CmdSN())
	}
}

// RequestLogout asks the initiator to log out within the given time: an
// Asynchronous Message with AsyncEvent 1 (RFC 7143 11.9.1), Parameter3 the seconds
// it has; Parameter1 and Parameter2 are reserved for this event (0). The target
// sends it when it stops.
func (m *Machine) RequestLogout(within time.Duration) {
	if m.Out.Close || m.Out.Over != "" {
		return
	}
	secs := uint16(min(max(within/time.Second, 1), 0xffff))
	p := &iscsi.PDU{}
	h := &p.BHS
	h.SetOpcode(iscsi.OpAsyncMsg)
	h.SetFinal(true)
	h.SetITT(iscsi.ReservedTag)
	h.SetStatSN(m.nextStatSN())
	m.window(h)
	h.SetAsyncEvent(iscsi.AsyncLogoutRequest)
	h.SetAsyncParameters(0, 0, secs)
	m.emit(p)
}
