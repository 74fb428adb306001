package login

import (
	"encoding/base64"
	"encoding/hex"
	"testing"
)

// Credentials of the initiator with its own CHAP credential in these tests.
const (
	ownInitiator    = "iqn.2024-01.org.atgt:own-host"
	ownUser         = "own-host"
	ownSecret       = "own-host-secret-3"
	ownTargetUser   = "target-for-own-host"
	ownTargetSecret = "own-host-target-secret"
)

// perInitiatorConfig is testConfig whose target has the policy mutual() for every
// initiator but ownInitiator, which has its own mutual credentials.
func perInitiatorConfig() Config {
	cfg := testConfig()
	own := ChapPolicy{Initiator: &ChapCredential{User: ownUser, Secret: Secret(ownSecret)},
		Target: &ChapCredential{User: ownTargetUser, Secret: Secret(ownTargetSecret)}}
	cfg.Auth = &ChapAuth{Targets: map[string]ChapPolicy{testTarget: mutual()},
		Initiators: map[string]map[string]ChapPolicy{testTarget: {ownInitiator: own}}, Rand: &countRand{next: 0x10}}
	return cfg
}

// TestChapPerInitiator: an initiator with its own credential logs in only with it
// (the target's credential fails it, 0201), and is answered with its own mutual
// credential; every other initiator still uses the target's.
func TestChapPerInitiator(t *testing.T) {
	first := func(initiator string) []byte {
		return text("InitiatorName="+initiator, "TargetName="+testTarget, "AuthMethod=CHAP")
	}
	mine := []byte("the initiator's own challenge, 32 b")
	for _, tt := range []struct {
		name, initiator, user, secret string
		ok                            bool
		targetUser, targetSecret      string
	}{
		{"own credential", ownInitiator, ownUser, ownSecret, true, ownTargetUser, ownTargetSecret},
		{"target's credential refused for it", ownInitiator, chapUser, chapSecret, false, "", ""},
		{"own name, target's secret", ownInitiator, ownUser, chapSecret, false, "", ""},
		{"another initiator, target's credential", testInitiator, chapUser, chapSecret, true, chapTargetUser, chapTargetSecret},
		{"another initiator may not use the own credential", testInitiator, ownUser, ownSecret, false, "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMachine(perInitiatorConfig())
			c := startChap(t, m, first(tt.initiator), "5")
			resp, _ := m.Step(secReq(text("CHAP_N="+tt.user, "CHAP_R="+c.answer(tt.secret),
				"CHAP_I=9", "CHAP_C=0b"+base64.StdEncoding.EncodeToString(mine))))
			if !tt.ok {
				if resp.Status() != AuthFailure {
					t.Fatalf("status %#x, want authentication failure", resp.Status())
				}
				return
			}
			r := replyMap(t, resp)
			want := "0x" + hex.EncodeToString(ChapResponse(ChapMD5, 9, []byte(tt.targetSecret), mine))
			if resp.Status() != StatusSuccess || r["CHAP_N"] != tt.targetUser || r["CHAP_R"] != want {
				t.Fatalf("answer %#x %v, want CHAP_N=%s CHAP_R=%s", resp.Status(), r, tt.targetUser, want)
			}
		})
	}
}

// TestLoginCredentialedOnly: a target that admits only initiators with their own
// credential refuses another one with 0202 before any authentication, and admits
// a listed one to the security stage.
func TestLoginCredentialedOnly(t *testing.T) {
	cfg := perInitiatorConfig()
	cfg.Lookup = func(name string) (TargetInfo, bool) {
		return TargetInfo{Name: testTarget, PortalGroupTag: 1,
			Credentialed: func(n string) bool { return n == ownInitiator }}, name == testTarget
	}
	m := NewMachine(cfg)
	resp, done := m.Step(secReq(names("AuthMethod=CHAP,None")))
	if resp.Status() != AuthorizationFailure || done {
		t.Fatalf("unlisted initiator: status %#x done %v, want 0202", resp.Status(), done)
	}
	m = NewMachine(cfg)
	startChap(t, m, text("InitiatorName="+ownInitiator, "TargetName="+testTarget, "AuthMethod=CHAP,None"), "5")
}
