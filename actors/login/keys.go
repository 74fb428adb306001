package login

import (
	"strings"

	"github.com/atgt/atgt/messages/iscsi"
)

// keyClass says how the Machine treats a key before any value is looked at.
type keyClass int

const (
	classUnknown     keyClass = iota // answered NotUnderstood
	classIdentity                    // declarations of the initiator: InitiatorName, TargetName, ...
	classSecurity                    // AuthMethod and method keys: security stage only
	classOperational                 // negotiated by the operational key table
	classTargetOnly                  // keys only a target may send: Irrelevant
	classObsolete                    // RFC 3720 markers, obsoleted by RFC 7143 13.26: Reject
	classFullFeature                 // SendTargets: full feature phase only, Irrelevant in login
)

// Key names used by the Machine itself.
const (
	keyInitiatorName  = "InitiatorName"
	keyInitiatorAlias = "InitiatorAlias"
	keyTargetName     = "TargetName"
	keySessionType    = "SessionType"
	keyAuthMethod     = "AuthMethod"
	keyTargetAlias    = "TargetAlias"
	keyTPGT           = "TargetPortalGroupTag"
	keyMaxRecvDSL     = "MaxRecvDataSegmentLength"
	keyFirstBurst     = "FirstBurstLength"
)

// classify sorts a key name into its keyClass.
func classify(key string) keyClass {
	switch key {
	case keyInitiatorName, keyInitiatorAlias, keyTargetName, keySessionType:
		return classIdentity
	case keyAuthMethod:
		return classSecurity
	case keyTargetAlias, keyTPGT, "TargetAddress":
		return classTargetOnly
	case "OFMarker", "IFMarker", "OFMarkInt", "IFMarkInt":
		return classObsolete
	case "SendTargets":
		return classFullFeature
	}
	if _, ok := operationalKeys[key]; ok {
		return classOperational
	}
	for _, p := range []string{"CHAP_", "SRP_", "KRB_", "SPKM_"} {
		if strings.HasPrefix(key, p) {
			return classSecurity
		}
	}
	return classUnknown // includes X-, X#, iSCSIProtocolLevel, TaskReporting
}

// keyDef is one operational key: whether it is session-wide (Leading Only, so
// Irrelevant on a connection added to an existing session) and how to answer an offer.
type keyDef struct {
	leadingOnly bool
	answer      func(n *negotiator, offer string) string
}

// operationalKeys is RFC 7143 section 13's operational key table: each answer function
// validates the offer (Reject when malformed or out of range, keeping the default),
// applies the result function against the target's Limits and records the result.
var operationalKeys = map[string]keyDef{
	"HeaderDigest": {answer: func(n *negotiator, v string) string {
		return n.digest(v, n.lim.HeaderDigest, &n.p.HeaderDigest)
	}},
	"DataDigest": {answer: func(n *negotiator, v string) string {
		return n.digest(v, n.lim.DataDigest, &n.p.DataDigest)
	}},
	"MaxConnections": {leadingOnly: true, answer: func(n *negotiator, v string) string {
		return n.minimum(v, 1, 65535, n.lim.MaxConnections, &n.p.MaxConnections)
	}},
	"InitialR2T": {leadingOnly: true, answer: func(n *negotiator, v string) string {
		return n.boolean(v, n.lim.InitialR2T, true, &n.p.InitialR2T)
	}},
	"ImmediateData": {leadingOnly: true, answer: func(n *negotiator, v string) string {
		return n.boolean(v, n.lim.ImmediateData, false, &n.p.ImmediateData)
	}},
	keyMaxRecvDSL: {answer: func(n *negotiator, v string) string {
		// A declaration is answered by the target's own declaration, which it must
		// send anyway; a malformed one is ignored (default 8192) rather than Rejected
		// so the response never carries the key twice.
		if x, ok := parseRange(v, 512, 16777215); ok {
			n.p.MaxRecvDataSegmentLength = x
		}
		return n.declare()
	}},
	"MaxBurstLength": {leadingOnly: true, answer: func(n *negotiator, v string) string {
		return n.minimum(v, 512, 16777215, n.lim.MaxBurstLength, &n.p.MaxBurstLength)
	}},
	keyFirstBurst: {leadingOnly: true, answer: func(n *negotiator, v string) string {
		n.firstBurstOffer, n.firstBurstPending = v, true
		return "" // answered after the request's other keys: it depends on them
	}},
	"DefaultTime2Wait": {leadingOnly: true, answer: func(n *negotiator, v string) string {
		x, ok := parseRange(v, 0, 3600)
		if !ok {
			return valReject
		}
		n.p.DefaultTime2Wait = max(x, n.lim.DefaultTime2Wait)
		return formatNumber(n.p.DefaultTime2Wait)
	}},
	"DefaultTime2Retain": {leadingOnly: true, answer: func(n *negotiator, v string) string {
		return n.minimum(v, 0, 3600, n.lim.DefaultTime2Retain, &n.p.DefaultTime2Retain)
	}},
	"MaxOutstandingR2T": {leadingOnly: true, answer: func(n *negotiator, v string) string {
		return n.minimum(v, 1, 65535, n.lim.MaxOutstandingR2T, &n.p.MaxOutstandingR2T)
	}},
	// The target delivers and expects data in order, so its side of the OR is Yes.
	"DataPDUInOrder": {leadingOnly: true, answer: func(n *negotiator, v string) string {
		return n.boolean(v, true, true, &n.p.DataPDUInOrder)
	}},
	"DataSequenceInOrder": {leadingOnly: true, answer: func(n *negotiator, v string) string {
		return n.boolean(v, true, true, &n.p.DataSequenceInOrder)
	}},
	"ErrorRecoveryLevel": {leadingOnly: true, answer: func(n *negotiator, v string) string {
		return n.minimum(v, 0, 2, n.lim.ErrorRecoveryLevel, &n.p.ErrorRecoveryLevel)
	}},
}

// negotiator holds the operational negotiation state of one login across requests.
type negotiator struct {
	lim               Limits
	p                 Params
	declared          bool // the target's MaxRecvDataSegmentLength has been sent
	firstBurstOffer   string
	firstBurstPending bool
}

func newNegotiator(lim Limits) *negotiator {
	return &negotiator{lim: lim, p: DefaultParams()}
}

// answer returns the reply value for an operational key; "" means none is sent now.
func (n *negotiator) answer(key, offer string, leading bool) string {
	def, ok := operationalKeys[key]
	if !ok {
		return valNotUnderstood
	}
	if def.leadingOnly && !leading {
		return valIrrelevant
	}
	return def.answer(n, offer)
}

// deferred answers keys whose result depends on others of the same request.
func (n *negotiator) deferred() []iscsi.KV {
	if !n.firstBurstPending {
		return nil
	}
	n.firstBurstPending = false
	v := n.firstBurstOffer
	x, ok := parseRange(v, 512, 16777215)
	if !ok {
		return []iscsi.KV{{Key: keyFirstBurst, Value: valReject}}
	}
	if !n.p.FirstBurstRelevant() {
		return []iscsi.KV{{Key: keyFirstBurst, Value: valIrrelevant}}
	}
	n.p.FirstBurstLength = min(x, n.lim.FirstBurstLength, n.p.MaxBurstLength)
	return []iscsi.KV{{Key: keyFirstBurst, Value: formatNumber(n.p.FirstBurstLength)}}
}

// declare returns the target's MaxRecvDataSegmentLength the first time, "" after.
func (n *negotiator) declare() string {
	if n.declared {
		return ""
	}
	n.declared = true
	return formatNumber(n.lim.MaxRecvDataSegmentLength)
}

// params is the result: defaults plus negotiated values, made consistent.
func (n *negotiator) params() Params {
	p := n.p
	if n.declared {
		p.MaxXmitDataSegmentLength = n.lim.MaxRecvDataSegmentLength
	}
	p.FirstBurstLength = min(p.FirstBurstLength, p.MaxBurstLength)
	return p
}

func (n *negotiator) digest(offer string, accepted []string, dst *bool) string {
	v, ok := selectFromList(offer, accepted)
	if !ok {
		return valReject
	}
	*dst = v != valNone
	return v
}

func (n *negotiator) minimum(offer string, lo, hi, limit uint32, dst *uint32) string {
	x, ok := parseRange(offer, lo, hi)
	if !ok {
		return valReject
	}
	*dst = min(x, limit)
	return formatNumber(*dst)
}

// boolean applies OR (or=true) or AND with the target's preference and answers the
// result, which is always a valid response and leaves nothing for the initiator to guess.
func (n *negotiator) boolean(offer string, pref, or bool, dst *bool) string {
	b, ok := parseBool(offer)
	if !ok {
		return valReject
	}
	if or {
		*dst = b || pref
	} else {
		*dst = b && pref
	}
	return formatBool(*dst)
}
