package target

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	pb "github.com/atgt/atgt/messages/atgtv1"
)

const (
	hostA = "iqn.2026-11.dev.example:host-a"
	hostB = "iqn.2026-11.dev.example:host-b"
)

// initiatorChapCfg is chapCfg whose target also gives hostA and hostB credentials of
// their own.
func initiatorChapCfg() *pb.Config {
	cfg := chapCfg()
	cfg.Targets[0].InitiatorChap = []*pb.InitiatorChap{
		{Initiator: hostA, Chap: &pb.Chap{User: "host-a", Secret: "host-a-secret-1"},
			MutualChap: &pb.Chap{User: "tgt-a", Secret: "host-a-target-secret"}},
		{Initiator: hostB, Chap: &pb.Chap{User: "host-b", Secret: "host-b-secret-1"}},
	}
	return cfg
}

func TestValidateInitiatorChap(t *testing.T) {
	if err := Validate(initiatorChapCfg()); err != nil {
		t.Fatalf("valid config refused: %v", err)
	}
	only := initiatorChapCfg()
	only.Targets[0].Chap, only.Targets[0].MutualChap = nil, nil
	only.Targets[0].ChapAlgorithms = []string{"SHA-256", "MD5"}
	if err := Validate(only); err != nil {
		t.Fatalf("initiator credentials without the target's refused: %v", err)
	}
	ic := func(c *pb.Config, i int) *pb.InitiatorChap { return c.Targets[0].InitiatorChap[i] }
	for _, tc := range []struct {
		want string
		edit func(c *pb.Config)
	}{
		{"targets[0].initiatorChap[0].initiator", func(c *pb.Config) { ic(c, 0).Initiator = "" }},
		{"targets[0].initiatorChap[1].initiator: \"" + hostA + "\" is also listed in targets[0].initiatorChap[0]",
			func(c *pb.Config) { ic(c, 1).Initiator = hostA }},
		{"targets[0].initiatorChap[1].initiator: \"" + hostB + "\" may not log in",
			func(c *pb.Config) { c.Targets[0].AllowedInitiators = []string{hostA} }},
		{"targets[0].initiatorChap[1].chap: a credential is required", func(c *pb.Config) { ic(c, 1).Chap = nil }},
		{"targets[0].initiatorChap[0].chap.secret: shorter than 12 bytes", func(c *pb.Config) { ic(c, 0).Chap.Secret = "tiny-secret" }},
		{"targets[0].initiatorChap[0].chap.user", func(c *pb.Config) { ic(c, 0).Chap.User = "" }},
		{"targets[0].initiatorChap[0].mutualChap.secret: equals targets[0].initiatorChap[0].chap.secret",
			func(c *pb.Config) { ic(c, 0).MutualChap.Secret = "host-a-secret-1" }},
		// A host's secret that is also the target's mutual secret elsewhere lets that
		// host make atgt answer a challenge for it (RFC 7143 12.1.3).
		{"targets[0].mutualChap.secret: equals targets[0].initiatorChap[1].chap.secret",
			func(c *pb.Config) { ic(c, 1).Chap.Secret = testTargetSecret }},
		{"targets[0].initiatorChap[0].mutualChap.secret: equals targets[0].chap.secret",
			func(c *pb.Config) { ic(c, 0).MutualChap.Secret = testSecret }},
	} {
		t.Run(tc.want, func(t *testing.T) {
			cfg := initiatorChapCfg()
			tc.edit(cfg)
			err := Validate(cfg)
			if err == nil || !strings.Contains(err.Error(), "config: "+tc.want) {
				t.Fatalf("error %v, want it to name %q", err, tc.want)
			}
			for _, s := range []string{"host-a-secret-1", "host-b-secret-1", testSecret, testTargetSecret, "tiny-secret"} {
				if strings.Contains(err.Error(), s) {
					t.Fatalf("error %q shows a secret", err)
				}
			}
		})
	}
}

// TestInitiatorChapAccess: with the target's chap, every initiator may log in (each
// with its credential); without it, only the listed ones, and SendTargets names
// the target to them only. Either way the target counts as authenticated.
func TestInitiatorChapAccess(t *testing.T) {
	cfg := initiatorChapCfg()
	a := buildAccess(cfg)
	ti := a.targets[cfg.Targets[0].Name]
	if ti.Credentialed != nil || a.discovery[0].Allowed != nil {
		t.Fatal("a target with its own chap admits only listed initiators")
	}
	if !hasAuth(cfg.Targets[0]) {
		t.Fatal("hasAuth false")
	}
	only := initiatorChapCfg()
	only.Targets[0].Chap, only.Targets[0].MutualChap = nil, nil
	a = buildAccess(only)
	ti = a.targets[only.Targets[0].Name]
	if ti.Credentialed == nil || !ti.Credentialed(hostA) || !ti.Credentialed(hostB) || ti.Credentialed("iqn.2026-11.dev.example:other") {
		t.Fatal("Credentialed must admit hostA and hostB only")
	}
	d := a.discovery[0]
	if d.Allowed == nil || !d.Allowed(hostA) || d.Allowed("iqn.2026-11.dev.example:other") {
		t.Fatal("SendTargets must name the target to listed initiators only")
	}
	if !hasAuth(only.Targets[0]) {
		t.Fatal("hasAuth false without the target's chap")
	}
	if a.auth == nil {
		t.Fatal("no authenticator for a config whose only CHAP is per initiator")
	}
}

// TestInitiatorChapSecretsHidden: Redacted hides the initiators' secrets, and an
// admin change that leaves them out (as GetConfig does) keeps them.
func TestInitiatorChapSecretsHidden(t *testing.T) {
	cfg := initiatorChapCfg()
	r := Redacted(cfg)
	for _, s := range []string{"host-a-secret-1", "host-a-target-secret", "host-b-secret-1"} {
		if strings.Contains(r.String(), s) {
			t.Fatalf("Redacted shows %s", s)
		}
	}
	next := proto.Clone(cfg).(*pb.Config)
	for _, ic := range next.Targets[0].InitiatorChap {
		ic.Chap.Secret = ""
		if ic.MutualChap != nil {
			ic.MutualChap.Secret = ""
		}
	}
	keepSecrets(next, cfg)
	if !proto.Equal(next, cfg) {
		t.Fatalf("secrets not kept:\n%v", next)
	}
}
