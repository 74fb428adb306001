package cmdphase

import (
	"github.com/atgt/atgt/actors/cmdsn"
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/iscsi"
	"github.com/atgt/atgt/messages/scsi"
)

// MaxOutstandingTMFs bounds the task management functions one connection holds
// received and not yet answered (the connection's reader counts them from the socket
// on, and stops reading while this many are outstanding). Immediate functions skip
// the CmdSN window (RFC 7143 4.2.2.1), so nothing else bounds them, and each CLEAR
// TASK SET or reset also reaches every other session. RFC 7143 sets no limit and
// asks no answer by any time, so the target may take its time to read the next
// request: that is back-pressure (TCP's window fills, the initiator's sends block)
// rather than "Function rejected" (255, RFC 7143 11.6.1), which an initiator
// recovering from errors could take as a failed reset. Initiators send few at a
// time (Linux's one per session); 64 leaves room for an ABORT TASK per task of a
// deep queue.
const MaxOutstandingTMFs = 64

// TMFsHeld is the number of task management functions taken and not yet answered
// (the connection's reader counts them against MaxOutstandingTMFs).
func (m *Machine) TMFsHeld() int { return len(m.tmfs) }

// pendingTMF is a task management function waiting for the tasks it aborted to leave
// the IO workers and for its LUNs' answers: RFC 7143 4.2.3.3 allows the response only
// once every affected task is terminated.
type pendingTMF struct {
	fn          uint8
	itt         uint32
	waiting     int  // aborted tasks still with a LUN or worker
	lunsPending bool // TaskManagement sent, answers not all back
	answers     uint32
	response    uint32
}

// taskMgmt handles a Task Management Function Request (RFC 7143 11.5). The
// connection suppresses the responses of the tasks it aborts (tasks already with a
// LUN finish there); functions that change logical unit state (task sets, resets)
// also go through the dispatcher to the LUNs concerned, and the response waits for
// their answers, so that a unit attention they raise is in place before the
// initiator's next command can reach the LUN. CLEAR TASK SET and the resets act on
// the task set every I_T nexus shares (TST=000), so the session is first told to
// have the other sessions abort their tasks there (TaskSetAborted); the response
// does not wait for them. A target reset the target does not let this nexus run
// (mayResetTarget) is answered "Function authorization failed" before any of that.
func (m *Machine) taskMgmt(req *iscsi.PDU, arrival uint64) {
	h := &req.BHS
	fn := h.TMFFunction()
	itt := h.ITT()
	ref := h.ReferencedTaskTag()
	p := &pendingTMF{fn: fn, itt: itt}
	switch fn {
	case iscsi.TMFAbortTask:
		tk := m.tasks[ref]
		if tk == nil && m.lostCmdSN(h) {
			// RFC 7143 11.5.1 (b): the command never arrived (a digest error
			// discarded it); its CmdSN counts as received so later ones run.
			m.consume(h.RefCmdSN())
			m.tmfResponse(itt, fn, iscsi.TMFRespComplete)
			return
		}
		if tk == nil || tk.lunRaw != h.LUN() || !m.inScope(tk, h, arrival) {
			m.tmfResponse(itt, fn, iscsi.TMFRespTaskNotExist) // or already completed
			return
		}
		m.abort(tk, p)
		if lun, ok := scsi.DecodeLUN(h.LUN()); ok && p.waiting > 0 {
			// The task is with its LUN (or, withdrawn too late from the session,
			// on its way there), which detaches it if a backend call holds it too
			// long: the response then still comes in bounded time.
			p.lunsPending = true
			m.send(ToDispatcher, &pb.TaskManagement{
				Function: pb.TmfFunction_TMF_FUNCTION_ABORT_TASK, Itt: itt, Target: m.route, Lun: lun,
				Nexus: m.nexus(), ReplyTo: m.cfg.Self, ReferencedItt: ref,
			})
		}
		m.tmfs[itt] = p
		m.tmfCheck(p)
	case iscsi.TMFAbortTaskSet, iscsi.TMFClearTaskSet, iscsi.TMFLUNReset, iscsi.TMFTargetWarmReset, iscsi.TMFTargetColdReset:
		lun, ok := scsi.DecodeLUN(h.LUN())
		targetWide := fn == iscsi.TMFTargetWarmReset || fn == iscsi.TMFTargetColdReset
		if !ok && !targetWide {
			m.tmfResponse(itt, fn, iscsi.TMFRespLUNNotExist)
			return
		}
		if targetWide && !m.mayResetTarget(fn) {
			// Refused before anything is aborted or anyone told: it resets nothing.
			m.tmfResponse(itt, fn, iscsi.TMFRespAuthorizationFailed)
			return
		}
		for _, tk := range m.tasks {
			if m.inScope(tk, h, arrival) && (targetWide || tk.lunRaw == h.LUN()) {
				m.abort(tk, p)
			}
		}
		if fn != iscsi.TMFAbortTaskSet {
			// The task set is shared by every I_T nexus (TST=000): the other
			// sessions abort their tasks there too (AbortedByOther). Sent before
			// the function goes to the LUNs, so it leaves before any LUN answers.
			ab := &pb.TaskSetAborted{Target: m.route, AllLuns: targetWide, ByNexus: m.nexus()}
			if !targetWide {
				ab.Luns = []uint64{lun}
			}
			m.send(ToSession, ab)
		}
		p.lunsPending = true
		m.tmfs[itt] = p
		m.send(ToDispatcher, &pb.TaskManagement{
			Function: pb.TmfFunction(fn), Itt: itt, Target: m.route, Lun: lun,
			Nexus: m.nexus(), ReplyTo: m.cfg.Self,
		})
	case iscsi.TMFQueryTask:
		if tk := m.tasks[ref]; tk != nil && tk.lunRaw == h.LUN() && !tk.aborted && m.inScope(tk, h, arrival) {
			m.tmfResponse(itt, fn, iscsi.TMFRespSucceeded) // the task exists
		} else {
			m.tmfResponse(itt, fn, iscsi.TMFRespComplete)
		}
	case iscsi.TMFQueryTaskSet:
		for _, tk := range m.tasks {
			if tk.lunRaw == h.LUN() && !tk.aborted && m.inScope(tk, h, arrival) {
				m.tmfResponse(itt, fn, iscsi.TMFRespSucceeded)
				return
			}
		}
		m.tmfResponse(itt, fn, iscsi.TMFRespComplete)
	default:
		m.tmfResponse(itt, fn, iscsi.TMFRespNotSupported) // TASK REASSIGN needs ERL 2
	}
}

// lostCmdSN reports whether an ABORT TASK naming no task names, by RefCmdSN, a
// CmdSN in the window the target gave (ExpCmdSN to MaxCmdSN) and before the
// function's own: a command the initiator sent and the target never took.
func (m *Machine) lostCmdSN(h *iscsi.BHS) bool {
	ref := h.RefCmdSN()
	return !cmdsn.Less(ref, m.exp) && !cmdsn.Less(m.lastMax, ref) && cmdsn.Less(ref, h.CmdSN())
}

// inScope reports whether a task is one a task management function acts on: one
// that arrived before it, or, for a function in CmdSN order, a command ordered
// before it (which the session released first, though it may have arrived later).
// Tasks that come after the function are not touched.
func (m *Machine) inScope(tk *task, h *iscsi.BHS, arrival uint64) bool {
	if tk.arrival < arrival {
		return true
	}
	return !h.Immediate() && !tk.t.Immediate && cmdsn.Less(tk.t.CmdSn, h.CmdSN())
}

// TMFDone collects the LUNs' answers to a task management function.
func (m *Machine) TMFDone(d *pb.TaskManagementDone) {
	p := m.tmfs[d.Itt]
	if p == nil {
		return
	}
	p.answers++
	if d.Response != 0 && p.response == 0 {
		p.response = d.Response
	}
	if p.answers >= d.FanOut {
		p.lunsPending = false
	}
	m.tmfCheck(p)
}

// tmfCheck responds once nothing the function waits for is outstanding.
func (m *Machine) tmfCheck(p *pendingTMF) {
	if p.waiting > 0 || p.lunsPending {
		return
	}
	delete(m.tmfs, p.itt)
	m.tmfResponse(p.itt, p.fn, uint8(p.response))
}

// TargetColdReset tells the session that a TARGET COLD RESET completed: this
// connection closes itself, and the session manager closes every other connection
// to the target (RFC 7143 11.5.1).
type TargetColdReset struct{}

// tmfResponse sends a Task Management Function Response (RFC 7143 11.6); after a
// TARGET COLD RESET the connection is dropped, as SAM-5 has the target do.
func (m *Machine) tmfResponse(itt uint32, fn, response uint8) {
	p := &iscsi.PDU{}
	h := &p.BHS
	h.SetOpcode(iscsi.OpTaskMgmtResp)
	h.SetFinal(true)
	h.SetResponse(response)
	h.SetITT(itt)
	h.SetStatSN(m.nextStatSN())
	m.window(h)
	if fn == iscsi.TMFTargetColdReset && response == iscsi.TMFRespComplete {
		m.send(ToSession, &TargetColdReset{})
		m.nexusLost()
		m.sendAndClose(p)
		m.over("target cold reset")
		return
	}
	m.emit(p)
}

// abort terminates a task for a task management function: one that will not reach a
// LUN is dropped at once; one with a LUN is marked, its response suppressed, and p
// waits for its completion.
func (m *Machine) abort(tk *task, p *pendingTMF) {
	if tk.aborted {
		if len(tk.abortedBy) > 0 {
			// An earlier function waits for it; this one must not answer before
			// it has ended either (it may still be on its way to its LUN).
			tk.abortedBy = append(tk.abortedBy, p)
			p.waiting++
		}
		return
	}
	if !m.dispatched(tk) {
		if tk.sessionDispatches {
			// Held by the session behind a CmdSN gap, which would send it to its
			// LUN once the gap fills: the session withdraws it (its CmdSN still
			// passes) and hands it back dropped, and it is forgotten then. Should
			// the gap have filled first, it is at its LUN, and its completion
			// ends it. Either way it never runs after the function's response.
			tk.aborted = true
			tk.abortedBy = append(tk.abortedBy, p)
			p.waiting++
			m.send(ToSession, &cmdsn.Withdraw{CmdSn: tk.t.CmdSn, Task: tk.t})
			return
		}
		m.forget(tk)
		return
	}
	tk.aborted = true
	if len(tk.t.Cdb) > 0 && tk.t.Cdb[0] == scsi.OpSanitize {
		// A sanitize operation goes on through aborts and resets until it is done
		// (SBC-4 4.11.3); the function does not wait for it, and its late response
		// is suppressed like any aborted task's.
		return
	}
	tk.abortedBy = append(tk.abortedBy, p)
	p.waiting++
}

// dispatched reports whether the task has gone to its LUN. The connection sent it
// itself once its write data arrived; or its data was complete when it was ordered,
// so the session sent it as soon as its turn came: immediate, or below the ExpCmdSN
// the session reported with this function's release (which covers every command
// ordered before the function).
func (m *Machine) dispatched(tk *task) bool {
	if tk.dispatched {
		return true
	}
	return tk.sessionDispatches && (tk.t.Immediate || cmdsn.Less(tk.t.CmdSn, m.exp))
}
