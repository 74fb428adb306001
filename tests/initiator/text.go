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
// target's keys. A request longer than the target's MaxRecvDataSegmentLength goes
// in parts (TextParts).
func (s *Session) Text(keys []iscsi.KV) ([]iscsi.KV, error) {
	return s.TextParts(keys, int(s.Params.MaxXmitDataSegmentLength))
}

// TextParts is Text with the request's text cut into parts of at most part bytes
// (cut anywhere, even inside a pair): each but the last goes with C=1 and F=0, and
// the target must answer it with an empty Text Response, F=0, whose TTT the next
// part returns (RFC 7143 6.1, 11.10.2, 11.10.4).
func (s *Session) TextParts(keys []iscsi.KV, part int) ([]iscsi.KV, error) {
	deadline := time.Now().Add(s.opts.Timeout)
	itt, box := s.register()
	defer s.unregister(itt)
	rest := iscsi.AppendText(nil, keys...)
	ttt := uint32(reservedTag)
	var all []byte
	for {
		payload, cont := rest, false
		if part > 0 && len(rest) > part {
			payload, cont = rest[:part], true
		}
		rest = rest[len(payload):]
		err := s.sendNumbered(false, deadline, func(cmdSN uint32) []*iscsi.PDU {
			p := &iscsi.PDU{Data: payload}
			h := &p.BHS
			h.SetOpcode(iscsi.OpTextReq)
			h.SetFinal(!cont)
			h.SetContinue(cont)
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
		if cont {
			// A part of the request: the answer is empty, F=0, with a TTT.
			if h.Final() || h.Continue() || len(in.Data) != 0 || h.TTT() == reservedTag {
				return nil, protoErr("Text Response to a continued request: F=%v C=%v TTT %#x %d bytes",
					h.Final(), h.Continue(), h.TTT(), len(in.Data))
			}
			ttt = h.TTT()
			continue
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
		ttt = h.TTT()
	}
}
