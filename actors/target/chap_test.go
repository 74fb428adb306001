package target

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/atgt/atgt/actors/login"
	pb "github.com/atgt/atgt/messages/atgtv1"
)

const (
	testSecret       = "initiator-secret-1"
	testTargetSecret = "target-secret-22"
)

func chapCfg() *pb.Config {
	cfg := ApplyDefaults(DefaultConfig())
	cfg.Targets[0].Chap = &pb.Chap{User: "alice", Secret: testSecret}
	cfg.Targets[0].MutualChap = &pb.Chap{User: "tgt", Secret: testTargetSecret}
	cfg.DiscoveryChap = &pb.Chap{User: "disc", Secret: "discovery-secret"}
	cfg.DiscoveryMutualChap = &pb.Chap{User: "disc-tgt", Secret: "discovery-target"}
	return cfg
}

func TestValidateChap(t *testing.T) {
	if err := Validate(chapCfg()); err != nil {
		t.Fatalf("valid CHAP config refused: %v", err)
	}
	tests := []struct {
		field string
		edit  func(c *pb.Config)
	}{
		{"targets[0].chap.secret: shorter than 12 bytes", func(c *pb.Config) { c.Targets[0].Chap.Secret = "short-11byt" }},
		{"targets[0].mutualChap.secret: shorter", func(c *pb.Config) { c.Targets[0].MutualChap.Secret = "x" }},
		{"targets[0].chap.secret: longer than 1024", func(c *pb.Config) { c.Targets[0].Chap.Secret = strings.Repeat("s", 1025) }},
		{"targets[0].chap.secret: a secret or a secretFile", func(c *pb.Config) { c.Targets[0].Chap.Secret = "" }},
		{"targets[0].chap.secret: set both", func(c *pb.Config) { c.Targets[0].Chap.SecretFile = "/x" }},
		{"targets[0].chap.user", func(c *pb.Config) { c.Targets[0].Chap.User = "" }},
		{"targets[0].chap.user", func(c *pb.Config) { c.Targets[0].Chap.User = "a\x00b" }},
		{"targets[0].chap.user", func(c *pb.Config) { c.Targets[0].Chap.User = strings.Repeat("u", 256) }},
		{"targets[0].mutualChap: mutual CHAP needs targets[0].chap", func(c *pb.Config) { c.Targets[0].Chap = nil }},
		{"targets[0].mutualChap.secret: equals targets[0].chap.secret", func(c *pb.Config) { c.Targets[0].MutualChap.Secret = testSecret }},
		{"discoveryMutualChap: mutual CHAP needs discoveryChap", func(c *pb.Config) { c.DiscoveryChap = nil }},
		{"discoveryMutualChap.secret: equals discoveryChap.secret", func(c *pb.Config) { c.DiscoveryMutualChap.Secret = "discovery-secret" }},
		{"discoveryChap.secret: shorter", func(c *pb.Config) { c.DiscoveryChap.Secret = "abc" }},
		{"chapAlgorithms[1]: \"SHA-512\" is not", func(c *pb.Config) { c.ChapAlgorithms = []string{"MD5", "SHA-512"} }},
		{"targets[0].chapAlgorithms[1]: MD5 appears twice", func(c *pb.Config) { c.Targets[0].ChapAlgorithms = []string{"MD5", "MD5"} }},
		{"targets[0].chapAlgorithms: set without chap", func(c *pb.Config) {
			c.Targets[0].Chap, c.Targets[0].MutualChap = nil, nil
			c.Targets[0].ChapAlgorithms = []string{"MD5"}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.field, func(t *testing.T) {
			cfg := chapCfg()
			tc.edit(cfg)
			err := Validate(cfg)
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), "config: "+tc.field) {
				t.Fatalf("error %q does not name %q", err, tc.field)
			}
			for _, s := range []string{testSecret, testTargetSecret, "short-11byt", "discovery-secret", "sss"} {
				if strings.Contains(err.Error(), s) {
					t.Fatalf("error %q shows a secret", err)
				}
			}
		})
	}
}

// writeFile writes content with mode (chmod after, so the umask does not interfere).
func writeFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func TestLoadConfigRefusesWorldReadableSecret(t *testing.T) {
	dir := t.TempDir()
	withSecret := `{"targets":[{"name":"iqn.2026-11.dev.atgt:x","chap":{"user":"alice","secret":"` + testSecret + `"},"luns":[{"id":0,"backend":"memory","sizeBytes":"1048576"}]}]}`
	withFile := `{"targets":[{"name":"iqn.2026-11.dev.atgt:x","chap":{"user":"alice","secretFile":"s.txt"},"luns":[{"id":0,"backend":"memory","sizeBytes":"1048576"}]}]}`
	path := filepath.Join(dir, "c.json")

	writeFile(t, path, withSecret, 0o644)
	_, err := LoadConfig(path)
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "readable by every user") {
		t.Fatalf("world-readable config with a secret: %v", err)
	}
	if strings.Contains(err.Error(), testSecret) {
		t.Fatalf("error shows the secret: %v", err)
	}
	writeFile(t, path, withSecret, 0o640)
	if _, err := LoadConfig(path); err != nil {
		t.Fatalf("mode 0640: %v", err)
	}
	// A config that only names a secret file may be world-readable; the file may not.
	writeFile(t, path, withFile, 0o644)
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatalf("config with a secret file: %v", err)
	}
	// Kept as written (what admin changes save); the service resolves it against
	// its config file's directory.
	if got := cfg.Targets[0].Chap.SecretFile; got != "s.txt" {
		t.Fatalf("secretFile %q changed by LoadConfig, want it as written", got)
	}
	secretFile := filepath.Join(dir, "s.txt")
	writeFile(t, secretFile, testSecret+"\nsecond line ignored\n", 0o644)
	_, err = StartWith(cfg, hclog.NewNullLogger(), Options{ConfigPath: path})
	if err == nil || !strings.Contains(err.Error(), "targets[0].chap.secretFile") || !strings.Contains(err.Error(), secretFile) {
		t.Fatalf("world-readable secret file: %v", err)
	}
	if strings.Contains(err.Error(), testSecret) {
		t.Fatalf("error shows the secret: %v", err)
	}
}

func TestLoadSecrets(t *testing.T) {
	dir := t.TempDir()
	one, two := filepath.Join(dir, "one"), filepath.Join(dir, "two")
	writeFile(t, one, testSecret+"\r\nignored", 0o600)
	writeFile(t, two, testTargetSecret, 0o600)
	cfg := chapCfg()
	cfg.Targets[0].Chap = &pb.Chap{User: "alice", SecretFile: one}
	cfg.Targets[0].MutualChap = &pb.Chap{User: "tgt", SecretFile: two}
	if err := Validate(cfg); err != nil {
		t.Fatal(err)
	}
	if err := loadSecrets(cfg, ""); err != nil {
		t.Fatal(err)
	}
	if cfg.Targets[0].Chap.Secret != testSecret || cfg.Targets[0].MutualChap.Secret != testTargetSecret {
		t.Fatal("secrets not read from their first lines")
	}

	writeFile(t, two, testSecret+"\n", 0o600) // the same secret in both files
	cfg.Targets[0].Chap = &pb.Chap{User: "alice", SecretFile: one}
	cfg.Targets[0].MutualChap = &pb.Chap{User: "tgt", SecretFile: two}
	if err := loadSecrets(cfg, ""); err == nil || !strings.Contains(err.Error(), "targets[0].mutualChap.secret: equals") {
		t.Fatalf("equal secrets from files: %v", err)
	}
	writeFile(t, two, "short\n", 0o600)
	cfg.Targets[0].MutualChap = &pb.Chap{User: "tgt", SecretFile: two}
	if err := loadSecrets(cfg, ""); err == nil || !strings.Contains(err.Error(), "targets[0].mutualChap.secretFile") ||
		!strings.Contains(err.Error(), "shorter than 12") {
		t.Fatalf("short secret in a file: %v", err)
	}
	cfg.Targets[0].MutualChap = &pb.Chap{User: "tgt", SecretFile: filepath.Join(dir, "missing")}
	if err := loadSecrets(cfg, ""); err == nil || !strings.Contains(err.Error(), "targets[0].mutualChap.secretFile") {
		t.Fatalf("missing secret file: %v", err)
	}
}

func TestRedacted(t *testing.T) {
	cfg := chapCfg()
	out, err := protojson.Marshal(Redacted(cfg))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{testSecret, testTargetSecret, "discovery-secret", "discovery-target"} {
		if strings.Contains(string(out), s) {
			t.Fatalf("redacted config shows %q: %s", s, out)
		}
	}
	if cfg.Targets[0].Chap.Secret != testSecret {
		t.Fatal("Redacted changed its argument")
	}
}

func TestChapAuthFromConfig(t *testing.T) {
	if a := chapAuth(ApplyDefaults(DefaultConfig())); a != nil {
		t.Fatalf("authenticator without CHAP: %v", a)
	}
	cfg := chapCfg()
	cfg.ChapAlgorithms = []string{"SHA-1"}
	cfg.Targets = append(cfg.Targets, &pb.Target{Name: "iqn.2026-11.dev.atgt:b", Chap: &pb.Chap{User: "bob", Secret: testSecret},
		ChapAlgorithms: []string{"MD5", "SHA-256"}})
	a, ok := chapAuth(cfg).(*login.ChapAuth)
	if !ok {
		t.Fatal("no ChapAuth")
	}
	d := a.Discovery
	if d.Initiator.User != "disc" || string(d.Target.Secret) != "discovery-target" || len(d.Algorithms) != 1 || d.Algorithms[0] != login.ChapSHA1 {
		t.Fatalf("discovery policy %+v", d)
	}
	p := a.Targets[DefaultTargetName]
	if p.Initiator.User != "alice" || p.Target.User != "tgt" || len(p.Algorithms) != 1 {
		t.Fatalf("target policy %+v", p)
	}
	if b := a.Targets["iqn.2026-11.dev.atgt:b"]; b.Target != nil || len(b.Algorithms) != 2 || b.Algorithms[0] != login.ChapMD5 {
		t.Fatalf("second target policy %+v", b)
	}
	if a.Rand == nil {
		t.Fatal("no random source")
	}
}

// A config that fails to parse near a secret names the place, not the text.
func TestLoadConfigHidesSecretInParseError(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.json")
	for _, bad := range []string{`12345678901234`, `SuperSecretValue1`} {
		writeFile(t, path, `{"targets":[{"name":"iqn.2026-11.dev.atgt:x","chap":{"user":"a","secret":`+bad+`}}]}`, 0o600)
		_, err := LoadConfig(path)
		if err == nil || strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "(line 1:") {
			t.Fatalf("parse error %v", err)
		}
	}
	writeFile(t, path, `{"targetz":[]}`, 0o600) // no secret: the error as protojson words it
	if _, err := LoadConfig(path); err == nil || !strings.Contains(err.Error(), "targetz") {
		t.Fatalf("parse error %v", err)
	}
}
