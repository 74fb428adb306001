package initiator

import (
	"time"

	"github.com/atgt/atgt/messages/iscsi"
)

// maxTextResponse bounds the text a multi-PDU Text Response may accumulate.
const maxTextResponse = 1 << 20

// SendTargets asks for SendTargets=value (All, a target name, or "" for the
// session's target) and returns the keys of the answer in order, following
// continued (C bit) responses.
func (s *Session) SendTargets(value string) ([]iscsi.KV, error) {
	return s.Text([]iscsi.KV{{Key: "SendTargets", Value: value}})
}

// Text runs one Text Request exchange (RFC 7143 11.10-11.11) and returns the
// target's keys.
func (s *Session) Text(keys []iscsi.KV) ([]iscsi.KV, error) {
	deadline := time.Now().Add(s.opts.Timeout)
	itt, box := s.register()
	defer s.unregister(itt)
	payload := iscsi.AppendText(nil, keys...)
	ttt := uint32(reservedTag)
	var all []byte
	for {
		err := s.sendNumbered(false, deadline, func(cmdSN uint32) []*iscsi.PDU {
			p := &iscsi.PDU{Data: payload}
			h := &p.BHS
			h.SetOpcode(iscsi.OpTextReq)
			h.SetFinal(true)
			h.SetITT(itt)
			h.SetTTT(ttt)
			h.SetCmdSN(cmdSN)
			return []*iscsi.PDU{p}
		})
		if err != nil {
			return nil, err
		}
		in, err := s.next(box, deadline)
		if err != nil {
			return nil, err
		}
		h := &in.BHS
		switch h.Opcode() {
		case iscsi.OpTextResp:
		case iscsi.OpReject:
			var bad iscsi.BHS
			copy(bad[:], in.Data)
			return nil, &RejectError{Reason: h.Response(), Header: bad}
		default:
			return nil, protoErr("Text Request answered by %v", h.Opcode())
		}
		if len(all)+len(in.Data) > maxTextResponse {
			return nil, protoErr("text response over %d bytes", maxTextResponse)
		}
		all = append(all, in.Data...)
		if h.Final() {
			if h.Continue() {
				return nil, protoErr("Text Response with both F and C")
			}
			return iscsi.ParseText(all)
		}
		// Continue: an empty request with the target's TTT fetches the rest.
		payload, ttt = nil, h.TTT()
	}
}
