package initiator

import (
	"bytes"
	"time"

	"github.com/atgt/atgt/messages/iscsi"
)

// Nop sends an immediate NOP-Out with a fresh ITT and waits for the NOP-In that
// must echo its data (RFC 7143 11.18-11.19): a liveness check of the whole session.
func (s *Session) Nop(data []byte) error {
	deadline := time.Now().Add(s.opts.Timeout)
	itt, box := s.register()
	defer s.unregister(itt)
	err := s.sendNumbered(true, deadline, func(cmdSN uint32) []*iscsi.PDU {
		p := &iscsi.PDU{Data: data}
		h := &p.BHS
		h.SetOpcode(iscsi.OpNopOut)
		h.SetImmediate(true)
		h.SetFinal(true)
		h.SetITT(itt)
		h.SetTTT(reservedTag)
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
	switch in.BHS.Opcode() {
	case iscsi.OpNopIn:
	case iscsi.OpReject:
		var bad iscsi.BHS
		copy(bad[:], in.Data)
		return &RejectError{Reason: in.BHS.Response(), Header: bad}
	default:
		return protoErr("NOP-Out answered by %v", in.BHS.Opcode())
	}
	if in.BHS.TTT() != reservedTag {
		return protoErr("NOP-In answer with TTT %#x", in.BHS.TTT())
	}
	if !bytes.Equal(in.Data, data) {
		return protoErr("NOP-In echoed %d bytes, sent %d (or different)", len(in.Data), len(data))
	}
	return nil
}
