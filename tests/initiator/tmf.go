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
