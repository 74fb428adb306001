package initiator

import (
	"fmt"
	"time"

	"github.com/atgt/atgt/messages/iscsi"
)

// Logout closes the session (RFC 7143 11.14), waits for the Logout
// Response and then for the target to close the connection.
func (s *Session) Logout() error {
	deadline := time.Now().Add(s.opts.Timeout)
	itt, box := s.register()
	defer s.unregister(itt)
	err := s.sendNumbered(false, deadline, func(cmdSN uint32) []*iscsi.PDU {
		p := &iscsi.PDU{}
		h := &p.BHS
		h.SetOpcode(iscsi.OpLogoutReq)
		h.SetLogoutReason(iscsi.LogoutCloseSession)
		h.SetITT(itt)
		h.SetCmdSN(cmdSN)
		return []*iscsi.PDU{p}
	})
	if err != nil {
		return err
	}
	in, err := s.next(box, deadline)
	if err != nil {
		return err
	}
	if op := in.BHS.Opcode(); op != iscsi.OpLogoutResp {
		return protoErr("Logout answered by %v", op)
	}
	if r := in.BHS.Response(); r != iscsi.LogoutRespSuccess {
		return fmt.Errorf("initiator: logout response %d", r)
	}
	// The target closes after the response; wait for it, then make sure.
	select {
	case <-s.done:
	case <-time.After(time.Until(deadline)):
	}
	s.shutdown(ErrClosed)
	<-s.done
	return nil
}
