package login

import (
	"crypto/subtle"
	"io"
	"strconv"

	"github.com/atgt/atgt/messages/iscsi"
)

// CHAP's keys (RFC 7143 section 12.1.3) and the AuthMethod value that selects it.
const (
	MethodCHAP = "CHAP"
	keyChapA   = "CHAP_A"
	keyChapI   = "CHAP_I"
	keyChapC   = "CHAP_C"
	keyChapN   = "CHAP_N"
	keyChapR   = "CHAP_R"
)

// ChapAuth is the Authenticator of a target that requires CHAP for some of its
// targets or for discovery: AuthMethod CHAP only where a policy names an initiator
// credential (None is then not offered), None only elsewhere.
//
// The exchange is pure: the identifiers and challenges come from Rand, which the
// daemon sets to crypto/rand.Reader and tests to a fixed source. A login that fails
// authentication ends with AuthFailure (0201); the delay before that answer is the
// connection's business.
type ChapAuth struct {
	// Discovery is the policy of discovery sessions.
	Discovery ChapPolicy
	// Targets holds the policy of each target by name; a target without one needs
	// no authentication.
	Targets map[string]ChapPolicy
	// Initiators holds, by target name and then InitiatorName, the policies of
	// initiators with credentials of their own; one applies in place of the
	// target's. (An initiator that may log in only with such a credential is kept
	// out by the target's access list, not here.)
	Initiators map[string]map[string]ChapPolicy
	// Rand supplies identifiers and challenges. A nil Rand fails every CHAP login
	// with TargetError.
	Rand io.Reader
}

// policy is the CHAP policy that applies to one login.
func (a *ChapAuth) policy(who AuthContext) ChapPolicy {
	if who.SessionType == SessionDiscovery {
		return a.Discovery
	}
	if p, ok := a.Initiators[who.Target.Name][who.InitiatorName]; ok {
		return p
	}
	return a.Targets[who.Target.Name]
}

// Methods is CHAP alone where the login's policy has an initiator credential, None
// alone elsewhere.
func (a *ChapAuth) Methods(who AuthContext) []string {
	if a.policy(who).Initiator != nil {
		return []string{MethodCHAP}
	}
	return []string{valNone}
}

// Begin starts a CHAP exchange for method CHAP, and the empty exchange of None.
func (a *ChapAuth) Begin(method string, who AuthContext) AuthExchange {
	p := a.policy(who)
	if method != MethodCHAP || p.Initiator == nil {
		return noneExchange{}
	}
	return &chapExchange{policy: p, rand: a.Rand}
}

// chapPhase is where a CHAP exchange stands.
type chapPhase int

const (
	chapBegun        chapPhase = iota // AuthMethod=CHAP answered in this request
	chapWantA                         // waiting for CHAP_A
	chapWantResponse                  // CHAP_A, CHAP_I, CHAP_C sent; waiting for CHAP_N, CHAP_R
	chapDone                          // the initiator is authenticated
	chapFailed
)

// chapExchange is one login's CHAP conversation, target side (RFC 7143 section
// 12.1.3, RFC 1994):
//
//	I->T CHAP_A=<A1,A2,...>
//	T->I CHAP_A=<A> CHAP_I=<I> CHAP_C=<C>
//	I->T CHAP_N=<N> CHAP_R=<R>               (one-way)
//	I->T CHAP_N=<N> CHAP_R=<R> CHAP_I=<I> CHAP_C=<C>   (mutual)
//	T->I CHAP_N=<N> CHAP_R=<R>               (mutual)
//
// Any other key, order or value fails the exchange with AuthFailure.
type chapExchange struct {
	policy    ChapPolicy
	rand      io.Reader
	phase     chapPhase
	alg       ChapAlgorithm
	id        uint8
	challenge []byte
	mutual    bool // the target proved itself too
}

// Agreed names the algorithm the exchange used, and whether it was mutual, for the
// session's keys and log: which of the initiator's offers the target took is
// otherwise seen nowhere.
func (e *chapExchange) Agreed() []iscsi.KV {
	kv := []iscsi.KV{{Key: keyChapA, Value: strconv.Itoa(int(e.alg))}}
	if e.mutual {
		kv = append(kv, iscsi.KV{Key: "Mutual", Value: "Yes"})
	}
	return kv
}

// Step advances the exchange by the CHAP keys of one request.
func (e *chapExchange) Step(keys []iscsi.KV) ([]iscsi.KV, bool, Status) {
	if e.phase == chapBegun {
		e.phase = chapWantA
		if len(keys) == 0 {
			return nil, false, StatusSuccess // CHAP_A comes in the next request
		}
	}
	switch e.phase {
	case chapWantA:
		return e.selectAlgorithm(keys)
	case chapWantResponse:
		return e.verify(keys)
	}
	return e.fail()
}

// fail ends the exchange: every later step fails too.
func (e *chapExchange) fail() ([]iscsi.KV, bool, Status) {
	e.phase = chapFailed
	clear(e.challenge)
	return nil, false, AuthFailure
}

// selectAlgorithm answers CHAP_A with the target's first algorithm the initiator
// offers, a fresh identifier and a challenge as long as the digest.
func (e *chapExchange) selectAlgorithm(keys []iscsi.KV) ([]iscsi.KV, bool, Status) {
	if len(keys) != 1 || keys[0].Key != keyChapA {
		return e.fail()
	}
	alg, ok := pickChapAlgorithm(keys[0].Value, e.policy.algorithms())
	if !ok {
		e.fail()
		return []iscsi.KV{{Key: keyChapA, Value: valReject}}, false, AuthFailure
	}
	if e.rand == nil {
		e.phase = chapFailed
		return nil, false, TargetError
	}
	buf := make([]byte, 1+alg.Size())
	if _, err := io.ReadFull(e.rand, buf); err != nil {
		e.phase = chapFailed
		return nil, false, TargetError
	}
	e.alg, e.id, e.challenge = alg, buf[0], buf[1:]
	e.phase = chapWantResponse
	return []iscsi.KV{
		{Key: keyChapA, Value: strconv.Itoa(int(alg))},
		{Key: keyChapI, Value: strconv.Itoa(int(e.id))},
		{Key: keyChapC, Value: encodeChapBinary(e.challenge)},
	}, false, StatusSuccess
}

// verify checks the initiator's name and response and, if it asks, answers its
// challenge: only once it has proved itself, so that the target's answers are no
// oracle for anyone who does not know the initiator's secret.
func (e *chapExchange) verify(keys []iscsi.KV) ([]iscsi.KV, bool, Status) {
	var name, resp, idText, chal string
	var hasN, hasR, hasI, hasC bool
	for _, kv := range keys { // the Machine refuses a key that comes twice
		switch kv.Key {
		case keyChapN:
			name, hasN = kv.Value, true
		case keyChapR:
			resp, hasR = kv.Value, true
		case keyChapI:
			idText, hasI = kv.Value, true
		case keyChapC:
			chal, hasC = kv.Value, true
		default:
			return e.fail()
		}
	}
	if !hasN || !hasR || hasI != hasC {
		return e.fail()
	}
	got, ok := decodeChapBinary(resp)
	if !ok || len(got) != e.alg.Size() {
		return e.fail()
	}
	cred := e.policy.Initiator
	want := ChapResponse(e.alg, e.id, cred.Secret, e.challenge)
	nameOK := subtle.ConstantTimeCompare([]byte(name), []byte(cred.User))
	respOK := subtle.ConstantTimeCompare(got, want)
	clear(want)
	if nameOK&respOK != 1 {
		return e.fail()
	}
	if !hasI {
		e.phase = chapDone
		return nil, true, StatusSuccess
	}
	// Mutual CHAP: the initiator asks the target to prove itself.
	if e.policy.Target == nil {
		return e.fail()
	}
	id, ok := parseNumber(idText)
	if !ok || id > 255 {
		return e.fail()
	}
	c, ok := decodeChapBinary(chal)
	if !ok {
		return e.fail()
	}
	if subtle.ConstantTimeCompare(c, e.challenge) == 1 {
		return e.fail() // our own challenge reflected: answering it would answer for the initiator
	}
	t := e.policy.Target
	r := ChapResponse(e.alg, uint8(id), t.Secret, c)
	e.phase = chapDone
	e.mutual = true
	clear(e.challenge)
	return []iscsi.KV{{Key: keyChapN, Value: t.User}, {Key: keyChapR, Value: encodeChapBinary(r)}}, true, StatusSuccess
}
