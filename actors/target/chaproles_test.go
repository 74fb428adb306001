package target

import (
	"crypto/md5"
	"encoding/hex"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/atgt/atgt/actors/login"
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/iscsi"
)

const (
	roleTargetA = "iqn.2026-11.dev.atgt:a"
	roleTargetB = "iqn.2026-11.dev.atgt:b"
	roleShared  = "shared-secret-between-roles"
)

// crossRoleCfg gives target A's mutual_chap the secret with which target B
// authenticates its initiators.
func crossRoleCfg() *pb.Config {
	return ApplyDefaults(&pb.Config{Targets: []*pb.Target{
		{Name: roleTargetA, Luns: []*pb.Lun{{Id: 0, Path: "a.img"}},
			Chap:       &pb.Chap{User: "alice", Secret: "alice-secret-1234"},
			MutualChap: &pb.Chap{User: "atgt-a", Secret: roleShared}},
		{Name: roleTargetB, Luns: []*pb.Lun{{Id: 0, Path: "b.img"}},
			Chap: &pb.Chap{User: "bob", Secret: roleShared}},
	}})
}

// RFC 7143 12.1.3: a secret that authenticates initiators must not authenticate the
// target anywhere in the config. Before the check, crossRoleCfg was accepted and an
// initiator knowing only alice's secret logged in to B (see TestChapCrossRoleOracleWorksWhenAllowed).
func TestChapSecretInBothRolesRefused(t *testing.T) {
	tests := []struct {
		name      string
		edit      func(*pb.Config)
		want, and string
	}{
		{"target mutual = other target chap", func(*pb.Config) {}, "targets[0].mutualChap.secret", "targets[1].chap.secret"},
		{"discovery mutual = target chap", func(c *pb.Config) {
			c.Targets[0].MutualChap = nil
			c.DiscoveryChap = &pb.Chap{User: "disc", Secret: "discovery-secret"}
			c.DiscoveryMutualChap = &pb.Chap{User: "disc-tgt", Secret: roleShared}
		}, "discoveryMutualChap.secret", "targets[1].chap.secret"},
		{"target mutual = discovery chap", func(c *pb.Config) {
			c.Targets[1].Chap.Secret = "bob-secret-12345"
			c.DiscoveryChap = &pb.Chap{User: "disc", Secret: roleShared}
		}, "targets[0].mutualChap.secret", "discoveryChap.secret"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := crossRoleCfg()
			tc.edit(cfg)
			err := Validate(cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want+": equals "+tc.and) {
				t.Fatalf("got %v, want an error naming %s and %s", err, tc.want, tc.and)
			}
			if strings.Contains(err.Error(), roleShared) {
				t.Fatalf("error shows the secret: %v", err)
			}
		})
	}
	// The same secret in two roles through secret files is refused once they are read.
	dir := t.TempDir()
	one, two := filepath.Join(dir, "one"), filepath.Join(dir, "two")
	writeFile(t, one, roleShared+"\n", 0o600)
	writeFile(t, two, roleShared+"\n", 0o600)
	cfg := crossRoleCfg()
	cfg.Targets[0].MutualChap = &pb.Chap{User: "atgt-a", SecretFile: one}
	cfg.Targets[1].Chap = &pb.Chap{User: "bob", SecretFile: two}
	if err := Validate(cfg); err != nil {
		t.Fatalf("secret files are compared after reading: %v", err)
	}
	if err := loadSecrets(cfg, ""); err == nil || !strings.Contains(err.Error(), "targets[0].mutualChap.secret: equals targets[1].chap.secret") {
		t.Fatalf("equal secrets in two roles from files: %v", err)
	}
	// Distinct secrets pass.
	cfg = crossRoleCfg()
	cfg.Targets[1].Chap.Secret = "bob-secret-12345"
	if err := Validate(cfg); err != nil {
		t.Fatal(err)
	}
}

// TestChapCrossRoleOracleWorksWhenAllowed shows why: with crossRoleCfg served (validation bypassed), an initiator
// that knows only alice's secret makes A answer B's challenge and logs in to B.
func TestChapCrossRoleOracleWorksWhenAllowed(t *testing.T) {
	var acc accessHolder
	acc.set(buildAccess(crossRoleCfg()))
	lc := login.Config{Lookup: acc.lookup, Limits: login.DefaultLimits(), Auth: &acc}
	const sec, op, ffp = login.StageSecurity, login.StageOperational, login.StageFullFeature
	step := func(m *login.Machine, csg, nsg uint8, kv ...string) (*login.Response, bool, map[string]string) {
		t.Helper()
		var kvs []iscsi.KV
		for _, p := range kv {
			k, v, _ := strings.Cut(p, "=")
			kvs = append(kvs, iscsi.KV{Key: k, Value: v})
		}
		resp, done := m.Step(&login.Request{Transit: true, CSG: csg, NSG: nsg, ISID: [6]byte{0x80, 1, 2, 3, 4, 5}, ITT: 9,
			Data: iscsi.AppendText(nil, kvs...)})
		got, err := iscsi.ParseText(resp.Data)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, k := range got {
			out[k.Key] = k.Value
		}
		return resp, done, out
	}
	b := login.NewMachine(lc)
	step(b, sec, op, "InitiatorName=iqn.2026-11.dev.evil:x", "TargetName="+roleTargetB, "AuthMethod=CHAP")
	_, _, bc := step(b, sec, op, "CHAP_A=5")
	a := login.NewMachine(lc)
	step(a, sec, op, "InitiatorName=iqn.2026-11.dev.evil:x", "TargetName="+roleTargetA, "AuthMethod=CHAP")
	_, _, ac := step(a, sec, op, "CHAP_A=5")
	aid, _ := strconv.Atoi(ac["CHAP_I"])
	achal, _ := hex.DecodeString(strings.TrimPrefix(ac["CHAP_C"], "0x"))
	r := md5.Sum(append(append([]byte{byte(aid)}, "alice-secret-1234"...), achal...))
	_, _, am := step(a, sec, op, "CHAP_N=alice", "CHAP_R=0x"+hex.EncodeToString(r[:]), "CHAP_I="+bc["CHAP_I"], "CHAP_C="+bc["CHAP_C"])
	if resp, _, _ := step(b, sec, op, "CHAP_N=bob", "CHAP_R="+am["CHAP_R"]); resp.StatusClass != 0 {
		t.Fatalf("relayed response refused (%04x): the premise of TestChapSecretInBothRolesRefused changed", resp.Status())
	}
	if _, done, _ := step(b, op, ffp); !done {
		t.Fatal("B's login did not complete")
	}
}

// Two targets (or discovery and a target) whose initiators prove one secret are
// allowed, as RFC 7143 says "should not", but each such pair is logged by field.
func TestChapSharedSecretWarned(t *testing.T) {
	cfg := crossRoleCfg()
	cfg.Targets[0].MutualChap = nil
	cfg.Targets[1].Chap.Secret = "alice-secret-1234"
	if err := Validate(cfg); err != nil {
		t.Fatal(err)
	}
	got := sharedSecrets(cfg)
	if len(got) != 1 || got[0] != [2]string{"targets[0].chap", "targets[1].chap"} {
		t.Fatalf("shared secrets %v", got)
	}
	var buf strings.Builder
	warnSharedSecrets(cfg, hclog.New(&hclog.LoggerOptions{Output: &buf}))
	if !strings.Contains(buf.String(), "targets[1].chap.secret") || strings.Contains(buf.String(), "alice-secret-1234") {
		t.Fatalf("log %q", buf.String())
	}
}
