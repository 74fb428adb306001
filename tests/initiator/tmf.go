package initiator

import (
	"time"

	"github.com/atgt/atgt/messages/iscsi"
)

// TMF function codes (RFC 7143 11.5.1, RFC 7144 5.1).
const (
	TMFAbortTask    = 1
	TMFAbortTaskSet = 2
	TMFClearTaskSet = 4
	TMFLUNReset     = 5
	TMFTargetWarm   = 6
	TMFTargetCold   = 7
	TMFQueryTask    = 9
	TMFQueryTaskSet = 10
	TMFTaskReassign = 8
)

// TaskMgmt sends an immediate Task Management Function Request and returns the
// target's response code (0 function complete, 1 task does not exist, 2 LUN does not
// exist, 5 not supported, 7 function succeeded). refITT names the task for ABORT TASK
// and QUERY TASK.
func (s *Session) TaskMgmt(fn uint8, lun uint64, refITT uint32) (uint8, error) {
	deadline := time.Now().Add(s.opts.Timeout)
	itt, box := s.register()
	defer s.unregister(itt)
	err := s.sendNumbered(true, deadline, func(cmdSN uint32) []*iscsi.PDU {
		p := &iscsi.PDU{}
		h := &p.BHS
		h.SetOpcode(iscsi.OpTaskMgmtReq)
		h.SetImmediate(true)
		h.SetFlags(0x80 | fn)
		h.SetLUN(EncodeLUN(lun))
		h.SetITT(itt)
		h.SetField32(20, refITT)
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
