package login

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/atgt/atgt/messages/iscsi"
)

// maxLoginText caps the text a login may accumulate over continued requests, so a
// peer cannot grow memory without bound.
const maxLoginText = 64 * 1024

// maxLoginKeys caps the distinct keys one login may negotiate (its seen set), and
// maxLoginTotal the text of all its requests together: every request of a login is
// answered before authentication, so without them one connection could send new
// unknown keys until the login timeout and grow the target by gigabytes. A real login
// uses about 40 keys and a few KiB. Past either bound the login fails with 0200
// (Initiator error): the initiator caused it and must not retry the same login
// (0302, Out of resources, would invite a retry).
const (
	maxLoginKeys  = 256
	maxLoginTotal = maxLoginText
)

// maxLoginSegment is the most text one Login Response carries: the initiator's
// MaxRecvDataSegmentLength during login is its default, 8192 (RFC 7143 13.12). A
// longer answer is sent in parts with C=1 (RFC 7143 6.2, 11.13.3).
const maxLoginSegment = 8192

// Session types of the SessionType key.
const (
	SessionNormal    = "Normal"
	SessionDiscovery = "Discovery"
)

// maxNameLength is the longest iSCSI name (RFC 7143 section 4.2.7.1).
const maxNameLength = 223

// Result is what a successful login established.
type Result struct {
	Params                        Params
	SessionType                   string // "Normal" or "Discovery"
	InitiatorName, InitiatorAlias string
	Target                        TargetInfo // zero for discovery
	ISID                          [6]byte
	TSIH                          uint16 // from the first request (0 = new session)
	CID                           uint16
	// Route is the name the session's tasks carry as their target, by which they are
	// routed to the logical units this initiator sees (TargetInfo.Route); empty for
	// discovery.
	Route string
	// Peer is the initiator's source address (Config.Peer).
	Peer netip.Addr
	// Auth is what the security stage agreed: AuthMethod, and for CHAP the
	// algorithm (CHAP_A) and Mutual=Yes when the target proved itself too; empty
	// when the initiator skipped the security stage.
	Auth []iscsi.KV
}

type machineState int

const (
	stateNew machineState = iota
	stateRunning
	stateDone
	stateFailed
)

// Machine runs one connection's login phase. It is not safe for concurrent use: the
// connection actor that owns it feeds it one request at a time.
type Machine struct {
	cfg   Config
	auth  Authenticator
	state machineState
	stage uint8

	// Fields every request of the login must repeat.
	isid [6]byte
	tsih uint16
	cid  uint16
	itt  uint32

	pending    []byte    // text of continued (C=1) requests
	received   int       // text of every request of this login (maxLoginTotal)
	held       *Response // the rest of a response sent in parts, until asked for
	identified bool      // the first complete request has been processed
	identity   map[string]string
	seen       map[string]bool // keys negotiated so far in this login

	exchange AuthExchange // nil until AuthMethod is agreed
	authDone bool

	neg *negotiator
	res Result
	// why is the refusal's reason where the status alone does not say it (which
	// access list refused), for Refusal.
	why string
}

// NewMachine prepares the login of one connection.
func NewMachine(cfg Config) *Machine {
	auth := cfg.Auth
	if auth == nil {
		auth = AuthNone{}
	}
	return &Machine{
		res:      Result{Peer: cfg.Peer},
		cfg:      cfg,
		auth:     auth,
		identity: map[string]string{},
		seen:     map[string]bool{},
		neg:      newNegotiator(cfg.Limits.normalized()),
	}
}

// Result is what the login established; complete once Step has returned done.
func (m *Machine) Result() Result {
	r := m.res
	r.Params = m.neg.params()
	return r
}

// Step consumes one Login Request and returns the Login Response to send. done is true
// when this response completes the login (transit to full feature phase, status
// success). A non-success status in resp means the caller sends it and closes the
// connection; every later Step fails the same way.
func (m *Machine) Step(req *Request) (resp *Response, done bool) {
	if req == nil {
		m.state = stateFailed
		return m.failure(&Request{}, InitiatorError, nil), false
	}
	if m.state == stateDone || m.state == stateFailed {
		m.state = stateFailed
		return m.failure(req, InitiatorError, nil), false
	}
	if st := m.checkHeader(req); st != StatusSuccess {
		return m.fail(req, st, nil), false
	}
	if m.held != nil {
		return m.sendHeld(req)
	}
	m.received += len(req.Data)
	if m.received > maxLoginTotal {
		return m.fail(req, InitiatorError, nil), false
	}
	if len(m.pending)+len(req.Data) > maxLoginText {
		return m.fail(req, InitiatorError, nil), false
	}
	m.pending = append(m.pending, req.Data...)
	if req.Continue {
		return m.response(req), false // acknowledge; the keys follow
	}
	data := m.pending
	m.pending = nil
	kvs, err := iscsi.ParseText(data)
	if err != nil {
		return m.fail(req, InitiatorError, nil), false
	}
	if hasDuplicate(kvs) {
		return m.fail(req, InitiatorError, nil), false
	}
	first := !m.identified
	if first {
		if st := m.identify(kvs); st != StatusSuccess {
			return m.fail(req, st, nil), false
		}
		m.identified = true
	}
	reply, st := m.negotiate(kvs)
	if st != StatusSuccess {
		return m.fail(req, st, reply), false
	}
	return m.finish(req, first, reply)
}

// checkHeader validates the BHS fields of a request against RFC 7143 11.12 and
// against the earlier requests of this login.
func (m *Machine) checkHeader(req *Request) Status {
	if req.VersionMin > 0 {
		return UnsupportedVersion
	}
	if req.CSG != StageSecurity && req.CSG != StageOperational {
		return InitiatorError
	}
	if req.Transit && req.Continue {
		return InitiatorError
	}
	if req.Transit && (req.NSG <= req.CSG || (req.NSG != StageOperational && req.NSG != StageFullFeature)) {
		return InitiatorError
	}
	if m.state == stateNew {
		m.state = stateRunning
		m.stage = req.CSG
		m.isid, m.tsih, m.cid, m.itt = req.ISID, req.TSIH, req.CID, req.ITT
		m.res.ISID, m.res.TSIH, m.res.CID = req.ISID, req.TSIH, req.CID
		return StatusSuccess
	}
	if req.ISID != m.isid || req.TSIH != m.tsih || req.CID != m.cid || req.ITT != m.itt || req.CSG != m.stage {
		return InitiatorError
	}
	return StatusSuccess
}

// identify processes the declarations of the first complete request: who the
// initiator is, which kind of session and which target.
func (m *Machine) identify(kvs []iscsi.KV) Status {
	for _, kv := range kvs {
		if classify(kv.Key) == classIdentity {
			m.identity[kv.Key] = kv.Value
		}
	}
	name, ok := m.identity[keyInitiatorName]
	if !ok {
		return MissingParameter
	}
	if name == "" || len(name) > maxNameLength || !printable(name) || !printable(m.identity[keyInitiatorAlias]) {
		return InitiatorError
	}
	m.res.InitiatorName = name
	m.res.InitiatorAlias = m.identity[keyInitiatorAlias]
	st, ok := m.identity[keySessionType]
	if !ok {
		st = SessionNormal
	}
	switch st {
	case SessionNormal:
	case SessionDiscovery:
		m.res.SessionType = st
		return StatusSuccess
	default:
		return SessionTypeNotSupported
	}
	m.res.SessionType = st
	tn, ok := m.identity[keyTargetName]
	if !ok || tn == "" {
		return MissingParameter
	}
	if m.cfg.Lookup == nil {
		return NotFound
	}
	ti, ok := m.cfg.Lookup(tn)
	if !ok {
		m.why = "no such target (or it is being removed)"
		return NotFound
	}
	if ti.Allowed != nil && !ti.Allowed(name) {
		m.why = "the initiator name is not in the target's allowedInitiators"
		return AuthorizationFailure
	}
	if ti.Credentialed != nil && !ti.Credentialed(name) {
		m.why = "the target has no chap, and the initiator name has no initiatorChap credential"
		return AuthorizationFailure
	}
	if ti.AllowedFrom != nil && !ti.AllowedFrom(m.cfg.Peer) {
		m.why = "the source address is not in the target's allowedNetworks"
		return AuthorizationFailure
	}
	m.res.Target = ti
	m.res.Route = ti.Name
	if ti.Route != nil {
		m.res.Route = ti.Route(name)
	}
	return StatusSuccess
}

// negotiate answers every key of one complete request, in order, deferring those whose
// answer depends on the others.
func (m *Machine) negotiate(kvs []iscsi.KV) ([]iscsi.KV, Status) {
	var reply, secKeys []iscsi.KV
	add := func(k, v string) {
		if v != "" {
			reply = append(reply, iscsi.KV{Key: k, Value: v})
		}
	}
	leading := m.tsih == 0
	for _, kv := range kvs {
		class := classify(kv.Key)
		if class == classIdentity {
			// libiscsi repeats its declarations after the security stage: allow the
			// same value, refuse a change.
			if prev, ok := m.identity[kv.Key]; ok && prev != kv.Value {
				return reply, InitiatorError
			}
			m.identity[kv.Key] = kv.Value
			if kv.Key == keyInitiatorAlias {
				m.res.InitiatorAlias = kv.Value
			}
			continue
		}
		if m.seen[kv.Key] {
			return reply, InitiatorError // negotiated twice in one login (RFC 7143 6.2)
		}
		if len(m.seen) >= maxLoginKeys {
			return reply, InitiatorError
		}
		m.seen[kv.Key] = true
		switch class {
		case classSecurity:
			if m.stage != StageSecurity {
				return reply, InitiatorError
			}
			if kv.Key != keyAuthMethod {
				secKeys = append(secKeys, kv)
				continue
			}
			method, ok := selectFromList(kv.Value, m.auth.Methods(m.authContext()))
			if !ok {
				add(kv.Key, valReject)
				m.why = fmt.Sprintf("the initiator offered AuthMethod=%s, the target needs %s",
					logSafe(kv.Value), strings.Join(m.auth.Methods(m.authContext()), ","))
				return reply, AuthFailure
			}
			add(kv.Key, method)
			m.exchange = m.auth.Begin(method, m.authContext())
			m.res.Auth = []iscsi.KV{{Key: keyAuthMethod, Value: method}}
		case classOperational:
			add(kv.Key, m.neg.answer(kv.Key, kv.Value, leading))
		case classTargetOnly, classFullFeature:
			add(kv.Key, valIrrelevant)
		case classObsolete:
			add(kv.Key, valReject)
		default:
			add(kv.Key, valNotUnderstood)
		}
	}
	reply = append(reply, m.neg.deferred()...)
	if m.exchange != nil && !m.authDone {
		r, done, st := m.exchange.Step(secKeys)
		reply = append(reply, r...)
		if st != StatusSuccess {
			return reply, st
		}
		m.authDone = done
		if a, ok := m.exchange.(AuthAgreement); ok && done {
			m.res.Auth = append(m.res.Auth, a.Agreed()...)
		}
	} else {
		for _, kv := range secKeys {
			add(kv.Key, valNotUnderstood)
		}
	}
	return reply, StatusSuccess
}

// authContext is who logs in to what, for the Authenticator.
func (m *Machine) authContext() AuthContext {
	return AuthContext{SessionType: m.res.SessionType, InitiatorName: m.res.InitiatorName, Target: m.res.Target}
}

// authRequired reports whether the target insists on a method other than None for
// this login.
func (m *Machine) authRequired() bool {
	for _, v := range m.auth.Methods(m.authContext()) {
		if v == valNone {
			return false
		}
	}
	return true
}

// finish decides the stage transition and builds the response of a complete request.
func (m *Machine) finish(req *Request, first bool, reply []iscsi.KV) (*Response, bool) {
	resp := m.response(req)
	transit := req.Transit
	if transit && m.stage == StageSecurity && !m.authDone {
		if m.exchange == nil && m.authRequired() {
			m.why = "the target needs CHAP and the initiator offered no AuthMethod"
			return m.fail(req, AuthFailure, reply), false
		}
		if m.exchange != nil {
			transit = false // the exchange needs another round
		}
	}
	if m.stage == StageOperational && m.authRequired() && !m.authDone {
		m.why = "the target needs CHAP and the initiator skipped the security stage"
		return m.fail(req, AuthFailure, reply), false
	}
	if first && m.res.SessionType == SessionNormal {
		// Our declarations replace any Irrelevant answer to the same target-only key.
		reply = append([]iscsi.KV{{Key: keyTPGT, Value: formatNumber(uint32(m.res.Target.PortalGroupTag))}},
			without(reply, keyTPGT, keyTargetAlias)...)
		if m.res.Target.Alias != "" {
			reply = append(reply[:1], append([]iscsi.KV{{Key: keyTargetAlias, Value: m.res.Target.Alias}}, reply[1:]...)...)
		}
	}
	// The target must declare its MaxRecvDataSegmentLength during operational
	// negotiation (or before leaving login, if the initiator skipped that stage).
	if m.stage == StageOperational || (transit && req.NSG == StageFullFeature) {
		if v := m.neg.declare(); v != "" {
			reply = append(reply, iscsi.KV{Key: keyMaxRecvDSL, Value: v})
		}
	}
	resp.Data = iscsi.AppendText(nil, reply...)
	if transit {
		resp.Transit, resp.NSG = true, req.NSG
	}
	return m.send(resp)
}

// send returns resp, or its first part when its text is longer than the initiator may
// receive; the stage changes only with the last part.
func (m *Machine) send(resp *Response) (*Response, bool) {
	if len(resp.Data) > maxLoginSegment {
		rest := *resp
		rest.Data = resp.Data[maxLoginSegment:]
		m.held = &rest
		part := *resp
		part.Data = resp.Data[:maxLoginSegment]
		part.Continue, part.Transit, part.NSG = true, false, 0 // C=1 needs T=0 (11.13.3)
		return &part, false
	}
	m.held = nil
	if !resp.Transit {
		return resp, false
	}
	m.stage = resp.NSG
	if resp.NSG == StageFullFeature {
		m.state = stateDone
		return resp, true
	}
	return resp, false
}

// sendHeld answers the empty Login Request that asks for the next part of a response
// sent with C=1 (RFC 7143 6.2); any text in it, or C=1, is an initiator error.
func (m *Machine) sendHeld(req *Request) (*Response, bool) {
	if len(req.Data) > 0 || req.Continue {
		return m.fail(req, InitiatorError, nil), false
	}
	next := *m.held
	next.ITT = req.ITT
	return m.send(&next)
}

// response is a success response echoing the request's identifying fields.
func (m *Machine) response(req *Request) *Response {
	return &Response{
		CSG:  req.CSG,
		ISID: req.ISID,
		TSIH: req.TSIH,
		ITT:  req.ITT,
	}
}

// Refusal describes a refused login for the log: the target the initiator asked for
// ("" for discovery or before it said) and why, in words an administrator can act
// on (never a secret). st is the status the login ended with.
func (m *Machine) Refusal(st Status) (target, reason string) {
	target = logSafe(m.identity[keyTargetName])
	switch {
	case m.why != "":
		reason = m.why
	case st == AuthFailure:
		reason = "authentication failed (wrong CHAP name or secret, or a mutual CHAP the target cannot answer)"
	case st == AuthorizationFailure:
		reason = "not authorized"
	case st == NotFound:
		reason = "no such target"
	case st == MissingParameter:
		reason = "the login lacks InitiatorName or TargetName"
	case st == SessionTypeNotSupported:
		reason = "unsupported SessionType"
	case st == UnsupportedVersion:
		reason = "unsupported iSCSI version"
	case st == SessionDoesNotExist:
		reason = "a TSIH that names no live session of this initiator port and target"
	case st == ServiceUnavailable:
		reason = "the target is being reset or removed"
	default:
		reason = "a malformed or out-of-order login request"
	}
	return target, fmt.Sprintf("%s (status %02x%02x)", reason, st.Class(), st.Detail())
}

// maxLoggedText bounds a value from the network written to a log line.
const maxLoggedText = 256

// logSafe is text from the network fit for a log line: as it is when printable and
// short, else quoted (control characters escaped) and cut to maxLoggedText bytes.
func logSafe(s string) string {
	if printable(s) && len(s) <= maxLoggedText {
		return s
	}
	if len(s) > maxLoggedText {
		s = s[:maxLoggedText]
	}
	return strconv.Quote(s)
}

// fail ends the login with st; the reply keys gathered so far are kept (for example
// AuthMethod=Reject) so the initiator can tell why.
func (m *Machine) fail(req *Request, st Status, reply []iscsi.KV) *Response {
	m.state = stateFailed
	return m.failure(req, st, reply)
}

func (m *Machine) failure(req *Request, st Status, reply []iscsi.KV) *Response {
	resp := m.response(req)
	resp.CSG = req.CSG & 3
	resp.StatusClass, resp.StatusDetail = st.Class(), st.Detail()
	if len(reply) > 0 {
		resp.Data = iscsi.AppendText(nil, reply...)
	}
	if len(resp.Data) > maxLoginSegment {
		resp.Data = nil // a failure cannot be continued; its status says enough
	}
	return resp
}

// hasDuplicate reports a key offered twice in one request (RFC 7143 6.2: initiator error).
func hasDuplicate(kvs []iscsi.KV) bool {
	seen := make(map[string]struct{}, len(kvs))
	for _, kv := range kvs {
		if _, ok := seen[kv.Key]; ok {
			return true
		}
		seen[kv.Key] = struct{}{}
	}
	return false
}

// without returns kvs less the pairs with the given keys.
func without(kvs []iscsi.KV, keys ...string) []iscsi.KV {
	out := kvs[:0:0]
	for _, kv := range kvs {
		drop := false
		for _, k := range keys {
			drop = drop || kv.Key == k
		}
		if !drop {
			out = append(out, kv)
		}
	}
	return out
}

// printable reports whether an initiator-supplied name is valid UTF-8 without
// control characters (C0, DEL, C1). RFC 7143 4.2.7.2 (RFC 3722) allows in an iSCSI
// name only '-', '.', ':', lower-case letters, digits and nameprep'd Unicode, which
// has none; refusing just these (status 0200) keeps them out of log lines, trace
// filters and spans, and cannot refuse a name real initiators send (open-iscsi,
// Windows and VMware names are lower-case ASCII letters, digits, '.', '-', ':'),
// where enforcing the whole alphabet might refuse a sloppy upper-case one.
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || (r >= 0x7F && r < 0xA0) {
			return false
		}
	}
	return true
}
