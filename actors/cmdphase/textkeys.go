package cmdphase

import (
	"github.com/atgt/atgt/actors/login"
	"github.com/atgt/atgt/messages/iscsi"
)

// keySendTargets is the one key only the full feature phase has (RFC 7143 13.3,
// "Use: FFPO").
const keySendTargets = "SendTargets"

// answerKeys answers the keys of a Text Request: SendTargets with the targets the
// initiator may see, every other key as login.FullFeatureKey says. A declared
// MaxRecvDataSegmentLength is kept in the exchange until it is over (endExchange). It
// reports false when a key comes a second time in the exchange: RFC 7143 6.4 has
// the target answer that with a Reject (protocol error), which resets the
// negotiation.
func (m *Machine) answerKeys(x *textExchange, kvs []iscsi.KV) ([]iscsi.KV, bool) {
	var resp []iscsi.KV
	for _, kv := range kvs {
		if _, dup := x.seen[kv.Key]; dup {
			m.log.Debug("text key sent twice", "itt", x.itt, "key", kv.Key)
			return nil, false
		}
		if x.seen == nil {
			x.seen = map[string]struct{}{}
		}
		x.seen[kv.Key] = struct{}{}
		if kv.Key == keySendTargets {
			resp = append(resp, login.SendTargets(kv.Value, m.cfg.Login.InitiatorName, m.cfg.Login.Target.Name,
				m.Discovery(), m.cfg.Login.Peer, m.discoveryTargets())...)
			continue
		}
		answer, maxRecv := login.FullFeatureKey(kv.Key, kv.Value, m.params.MaxXmitDataSegmentLength)
		if maxRecv != 0 {
			x.maxRecv = maxRecv
		}
		if answer != "" {
			resp = append(resp, iscsi.KV{Key: kv.Key, Value: answer})
		}
	}
	return resp, true
}

// endExchange puts in force what an exchange agreed once its last Text Response (F=1)
// is queued (RFC 7143 6.4: parameters negotiated in a text exchange take effect
// only after it completes). A new MaxRecvDataSegmentLength bounds every data
// segment sent after that response, on this connection only (13.12: the key is
// per connection): Data-In, Text Responses, NOP-In echoes and SCSI Responses
// (whose sense data is always shorter than the least value, 512). Data-In queued
// before it may exceed it: the initiator expects the change only after the answer.
func (m *Machine) endExchange(x *textExchange) {
	if x.maxRecv == 0 {
		return
	}
	m.log.Debug("initiator declared MaxRecvDataSegmentLength", "old", m.maxSend(), "new", x.maxRecv)
	m.sendSeg.Store(x.maxRecv)
	x.maxRecv = 0
}
