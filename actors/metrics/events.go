package metrics

import "sync/atomic"

// LoginResult is how a login ended, the "result" label of atgt_logins_total.
type LoginResult uint8

// The login results.
const (
	// LoginSuccess: the final Login Response went out with status 0000.
	LoginSuccess LoginResult = iota
	// LoginAuthenticationFailure: status 0201, CHAP failed.
	LoginAuthenticationFailure
	// LoginAuthorizationFailure: status 0202, an access list refused the initiator.
	LoginAuthorizationFailure
	// LoginNegotiationFailure: any other refusal (an unknown target, a bad or
	// missing key, an unsupported version, a PDU invalid during login, a digest
	// error or an oversized segment while logging in).
	LoginNegotiationFailure
	// LoginTimeout: loginTimeoutSeconds passed before the login finished.
	LoginTimeout
	numLoginResults
)

var loginResultNames = [numLoginResults]string{
	"success", "authentication_failure", "authorization_failure", "negotiation_failure", "timeout",
}

// String is the result's label value.
func (r LoginResult) String() string {
	if r < numLoginResults {
		return loginResultNames[r]
	}
	return "negotiation_failure"
}

// events are the target's counters of rare things: logins, logouts, digest
// errors and rejected PDUs. Atomics, written by the connection actors.
type events struct {
	logins [numLoginResults]atomic.Uint64
	// logouts: [0] a Logout Request answered, [1] a logged-in connection that
	// ended any other way.
	logouts [2]atomic.Uint64
	// digests: [0] header, [1] data.
	digests  [2]atomic.Uint64
	rejected atomic.Uint64
}

// Login counts a login that ended with result r.
func (r *Registry) Login(res LoginResult) {
	if r != nil {
		if res >= numLoginResults {
			res = LoginNegotiationFailure
		}
		r.ev.logins[res].Add(1)
	}
}

// Logout counts the end of a logged-in connection (normal or discovery): normal
// when the initiator logged out, abnormal when the connection ended otherwise
// (closed, timed out, failed, or ended by the target).
func (r *Registry) Logout(normal bool) {
	if r == nil {
		return
	}
	if normal {
		r.ev.logouts[0].Add(1)
	} else {
		r.ev.logouts[1].Add(1)
	}
}

// DigestError counts a PDU whose header (header true) or data digest was wrong.
func (r *Registry) DigestError(header bool) {
	if r == nil {
		return
	}
	if header {
		r.ev.digests[0].Add(1)
	} else {
		r.ev.digests[1].Add(1)
	}
}

// RejectedPDU counts a Reject PDU sent to an initiator.
func (r *Registry) RejectedPDU() {
	if r != nil {
		r.ev.rejected.Add(1)
	}
}
