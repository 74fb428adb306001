package login

import "github.com/atgt/atgt/messages/iscsi"

// AuthContext is who is logging in to what: the declarations of the login's first
// request, which decide the authentication a login needs.
type AuthContext struct {
	SessionType   string // SessionNormal or SessionDiscovery
	InitiatorName string
	Target        TargetInfo // the zero TargetInfo in a discovery session
}

// Authenticator is the seam for the security stage: it names the AuthMethod values the
// target accepts for one login and starts one exchange per login, so that CHAP plugs
// in without the Machine knowing its keys.
type Authenticator interface {
	// Methods lists the AuthMethod values accepted for this login in the target's
	// preference order. A list without "None" makes authentication mandatory.
	Methods(who AuthContext) []string
	// Begin starts an exchange with the method chosen for this login.
	Begin(method string, who AuthContext) AuthExchange
}

// AuthExchange is one login's authentication conversation.
type AuthExchange interface {
	// Step takes the security keys of one request other than AuthMethod (CHAP_A,
	// CHAP_N, ...; possibly none) and returns the keys to answer, whether the initiator
	// is now authenticated, and a non-success status to fail the login.
	Step(keys []iscsi.KV) (reply []iscsi.KV, done bool, st Status)
}

// AuthAgreement is an AuthExchange that says, once done, what was agreed in it
// (CHAP_A), so that an administrator can see which algorithm a session uses.
type AuthAgreement interface {
	Agreed() []iscsi.KV
}

// AuthNone is the authenticator that requires nothing: AuthMethod=None only.
type AuthNone struct{}

// Methods accepts only None.
func (AuthNone) Methods(AuthContext) []string { return []string{valNone} }

// Begin returns an exchange that is complete at once.
func (AuthNone) Begin(string, AuthContext) AuthExchange { return noneExchange{} }

type noneExchange struct{}

// Step answers NotUnderstood to any method-specific key: None has none.
func (noneExchange) Step(keys []iscsi.KV) ([]iscsi.KV, bool, Status) {
	var reply []iscsi.KV
	for _, kv := range keys {
		reply = append(reply, iscsi.KV{Key: kv.Key, Value: valNotUnderstood})
	}
	return reply, true, StatusSuccess
}
