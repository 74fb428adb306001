package cmdphase

import (
	"github.com/atgt/atgt/actors/login"
	"github.com/atgt/atgt/messages/iscsi"
)

// maxTextRequest caps the text of one Text Request sent in parts (C=1), so that an
// initiator cannot make the target buffer without limit. RFC 7143 6.1 has a target
// accept at least 8192 bytes of key=value data in a negotiation sequence, and 64 KiB
// where an authentication method needs long items; this target takes 64 KiB.
const maxTextRequest = 64 * 1024

// textExchange is a Text Request/Response exchange in progress (RFC 7143
// 11.10-11.11): the target answered with a TTT, and the initiator's next Text
// Request with the same ITT returns it to go on. One exchange at a time per
// connection; a Text Request with the reserved TTT starts a new one.
type textExchange struct {
	itt, ttt uint32
	// in is the request text received so far while the initiator sends its keys
	// in parts (C=1); each part is answered with an empty Text Response.
	in []byte
	// rest is the answer not yet sent while the target sends it in parts (C=1);
	// the initiator asks for each part with an empty Text Request.
	rest []byte
	// seen are the keys the exchange's requests carried so far: one sent twice
	// is a protocol error (RFC 7143 6.4).
	seen map[string]struct{}
	// maxRecv, if not 0, is the MaxRecvDataSegmentLength the initiator declared
	// in the exchange, in force once the exchange is over (textkeys.go).
	maxRecv uint32
}

// text answers a Text Request (RFC 7143 11.10-11.11): SendTargets, a new
// MaxRecvDataSegmentLength, and the other keys as answerKeys says.
//
// The initiator may send its keys in parts, every part but the last with C=1 (and
// F=0): the target keeps each part, answers it with an empty Text Response with F=0
// and a TTT, which the next part returns, and answers the keys once the last part
// (C=0) is in (RFC 7143 6.1: the parts form one logical text data segment, and a
// pair may be cut anywhere). Over maxTextRequest in all, the request is rejected
// with reason 0x0a, Long Operation Reject (RFC 7143 11.17.1: the target lacks the
// resources to go on with it), and its parts are dropped.
//
// An answer longer than the initiator's MaxRecvDataSegmentLength goes in parts:
// each but the last with C=1 and a TTT, which the initiator's next (empty) Text
// Request returns to ask for the next part.
func (m *Machine) text(req *iscsi.PDU) {
	h := &req.BHS
	if h.Continue() && h.Final() {
		// RFC 7143 11.10.2: a Text Request with C=1 must have F=0.
		m.textX = nil
		m.reject(iscsi.RejectProtocolError, h)
		return
	}
	x := &textExchange{itt: h.ITT()}
	if ttt := h.TTT(); ttt != iscsi.ReservedTag {
		if c := m.textX; c == nil || c.itt != x.itt || c.ttt != ttt {
			m.reject(iscsi.RejectProtocolError, h)
			return
		}
		x = m.textX
	}
	// A new request (reserved TTT) ends an exchange the initiator gave up (RFC
	// 7143 11.10.4: the target resets its state); a continued one is taken up again.
	m.textX = nil
	if len(x.rest) > 0 {
		m.textPart(req, x, x.rest)
		return
	}
	if len(x.in)+len(req.Data) > maxTextRequest {
		m.log.Debug("text request too long", "itt", x.itt, "bytes", len(x.in)+len(req.Data))
		m.reject(iscsi.RejectLongOp, h)
		return
	}
	x.in = append(x.in, req.Data...)
	if h.Continue() {
		m.textAck(req, x)
		return
	}
	kvs, err := iscsi.ParseText(x.in)
	x.in = nil
	if err != nil {
		m.reject(iscsi.RejectProtocolError, h)
		return
	}
	resp, ok := m.answerKeys(x, kvs)
	if !ok {
		// A key sent twice in the exchange: the target resets the negotiation
		// with a Reject (RFC 7143 6.4), and what it had agreed is discarded.
		m.reject(iscsi.RejectProtocolError, h)
		return
	}
	m.textPart(req, x, iscsi.AppendText(nil, resp...))
}

// textAck answers a part of a Text Request sent with C=1: an empty Text Response,
// F=0, with a TTT for the next part to return (RFC 7143 11.10.4, 11.11.1).
func (m *Machine) textAck(req *iscsi.PDU, x *textExchange) {
	x.ttt = m.newTTT()
	m.textX = x
	p := &iscsi.PDU{}
	m.textResponse(p, req, x.ttt)
}

// textPart sends the next part of a Text Response: all of text if it fits in one
// PDU, else as much as fits, C=1, and the rest kept for the initiator's next ask.
// The last part has F=1 if the request had; to a request with F=0 the target
// answers F=0 with a TTT too (RFC 7143 11.11.1: F=1 in answer to F=0 is a protocol
// error), and the initiator's next request of the exchange goes on with it.
func (m *Machine) textPart(req *iscsi.PDU, x *textExchange, text []byte) {
	p := &iscsi.PDU{Data: text}
	x.rest = nil
	if max := m.maxSend(); max > 0 && uint32(len(text)) > max {
		p.Data, x.rest = text[:max], text[max:]
		p.BHS.SetContinue(true)
	}
	if len(x.rest) == 0 && req.BHS.Final() {
		p.BHS.SetFinal(true)
		m.textResponse(p, req, iscsi.ReservedTag)
		m.endExchange(x)
		return
	}
	x.ttt = m.newTTT()
	m.textX = x
	m.textResponse(p, req, x.ttt)
}

// textResponse fills in and sends a Text Response to req: the LUN, which RFC 7143
// 11.11.4 wants whenever the TTT is not the reserved value, is the request's.
func (m *Machine) textResponse(p *iscsi.PDU, req *iscsi.PDU, ttt uint32) {
	h := &p.BHS
	h.SetOpcode(iscsi.OpTextResp)
	h.SetITT(req.BHS.ITT())
	h.SetTTT(ttt)
	if ttt != iscsi.ReservedTag {
		h.SetLUN(req.BHS.LUN())
	}
	h.SetStatSN(m.nextStatSN())
	m.window(h)
	m.emit(p)
}

// discoveryTargets lists the configured targets with this connection's local address
// as their TargetAddress (the address the initiator already reached us on, without
// an IPv6 zone: login.PortalAddress), unless a target names its addresses itself
// (every gateway node's portals, in ALUA port groups).
func (m *Machine) discoveryTargets() []login.DiscoveryTarget {
	addr := login.PortalAddress(m.cfg.LocalAddr) + ",1"
	out := make([]login.DiscoveryTarget, len(m.cfg.Discovery))
	for i, t := range m.cfg.Discovery {
		if len(t.Addresses) > 0 {
			out[i] = t
			continue
		}
		t.Addresses = []string{addr}
		out[i] = t
	}
	return out
}
