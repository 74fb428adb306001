package initiator

import (
	"time"

	"github.com/atgt/atgt/messages/iscsi"
	"github.com/atgt/atgt/messages/scsi"
)

// TaskMgmt sends an immediate Task Management Function Request for function fn (an
// iscsi.TMF... code) and returns the target's response code (an iscsi.TMFResp...
// code). refITT names the task for ABORT TASK and QUERY TASK.
func (s *Session) TaskMgmt(fn uint8, lun uint64, refITT uint32) (uint8, error) {
	return s.TaskMgmtRef(fn, lun, refITT, 0)
}

// TaskMgmtRef is TaskMgmt with a RefCmdSN: for an ABORT TASK, the CmdSN of the
// task it names, which the target counts as received if the task never arrived
// (RFC 7143 11.5.1).
func (s *Session) TaskMgmtRef(fn uint8, lun uint64, refITT, refCmdSN uint32) (uint8, error) {
	deadline := time.Now().Add(s.opts.Timeout)
	itt, box := s.register()
	defer s.unregister(itt)
	err := s.sendNumbered(true, deadline, func(cmdSN uint32) []*iscsi.PDU {
		p := &iscsi.PDU{}
		h := &p.BHS
		h.SetOpcode(iscsi.OpTaskMgmtReq)
		h.SetImmediate(true)
		h.SetTMFFunction(fn)
		h.SetLUN(scsi.EncodeLUN(lun))
		h.SetITT(itt)
		h.SetReferencedTaskTag(refITT)
		h.SetRefCmdSN(refCmdSN)
		h.SetCmdSN(cmdSN)
		return []*iscsi.PDU{p}
	})
	if err != nil {
		return 0, err
	}
	in, err := s.next(box, deadline)
	if err != nil {
		return 0, err
	}
	if in.BHS.Opcode() != iscsi.OpTaskMgmtResp {
		return 0, protoErr("task management answered by %v", in.BHS.Opcode())
	}
	return in.BHS.Response(), nil
}
