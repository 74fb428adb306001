package tests

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/atgt/atgt/messages/iscsi"
	"github.com/atgt/atgt/tests/initiator"
)

// setKey returns keys with key set to value (replaced, or appended).
func setKey(keys []iscsi.KV, key, value string) []iscsi.KV {
	out := append([]iscsi.KV(nil), keys...)
	for i := range out {
		if out[i].Key == key {
			out[i].Value = value
			return out
		}
	}
	return append(out, iscsi.KV{Key: key, Value: value})
}

// TestChapHostile: hostile initiators against a target with mutual CHAP each end in
// a failed login (authentication failure, or initiator error where the login's
// general rules catch them), answered after the fixed delay when authentication
// failed; the daemon goes on serving good logins.
func TestChapHostile(t *testing.T) {
	cfg := chapTestConfig(t)
	// A login refused other than for authentication keeps its connection until the
	// login timeout, and a stop waits the grace period for it: keep that short.
	cfg.ShutdownGraceSeconds = 2
	d := startChapDaemon(t, cfg)
	// tamper builds a mutual CHAP login whose round-th request f rewrites.
	tamper := func(round int, f func(target map[string]string, keys []iscsi.KV) []iscsi.KV) *initiator.Chap {
		return &initiator.Chap{User: chapUser2, Secret: []byte(chapSecret2), Algorithms: []uint8{7},
			TargetUser: chapTgtUser2, TargetSecret: []byte(chapTgtSecret2),
			Tamper: func(r int, target map[string]string, keys []iscsi.KV) []iscsi.KV {
				if r == round {
					return f(target, keys)
				}
				return keys
			}}
	}
	set := func(round int, key, value string) *initiator.Chap {
		return tamper(round, func(_ map[string]string, keys []iscsi.KV) []iscsi.KV { return setKey(keys, key, value) })
	}
	tests := []struct {
		name  string
		chap  *initiator.Chap
		extra []iscsi.KV
		want  iscsi.LoginStatus
	}{
		{"wrong secret", &initiator.Chap{User: chapUser2, Secret: []byte("WrongSecret0002")}, nil, iscsi.LoginStatusAuthFailure},
		{"reflected challenge", tamper(2, func(target map[string]string, keys []iscsi.KV) []iscsi.KV {
			return setKey(setKey(keys, "CHAP_I", target["CHAP_I"]), "CHAP_C", target["CHAP_C"])
		}), nil, iscsi.LoginStatusAuthFailure},
		{"overlong CHAP_R", set(2, "CHAP_R", "0x"+strings.Repeat("ab", 1025)), nil, iscsi.LoginStatusAuthFailure},
		{"malformed CHAP_R", set(2, "CHAP_R", "0xZZ"), nil, iscsi.LoginStatusAuthFailure},
		{"decimal CHAP_R", set(2, "CHAP_R", "12345"), nil, iscsi.LoginStatusAuthFailure},
		{"overlong CHAP_C", set(2, "CHAP_C", "0x"+strings.Repeat("cd", 1025)), nil, iscsi.LoginStatusAuthFailure},
		{"malformed CHAP_C", set(2, "CHAP_C", "0b%%%%"), nil, iscsi.LoginStatusAuthFailure},
		{"CHAP_I 256", set(2, "CHAP_I", "256"), nil, iscsi.LoginStatusAuthFailure},
		{"CHAP_I -1", set(2, "CHAP_I", "-1"), nil, iscsi.LoginStatusAuthFailure},
		{"response before the challenge", tamper(1, func(map[string]string, []iscsi.KV) []iscsi.KV {
			return []iscsi.KV{{Key: "CHAP_N", Value: chapUser2}, {Key: "CHAP_R", Value: "0x00112233445566778899aabbccddeeff"}}
		}), nil, iscsi.LoginStatusAuthFailure},
		{"CHAP_A repeated", set(2, "CHAP_A", "7"), nil, iscsi.LoginStatusInitiatorError},
		{"CHAP_N twice", tamper(2, func(_ map[string]string, keys []iscsi.KV) []iscsi.KV {
			return append(keys, iscsi.KV{Key: "CHAP_N", Value: chapUser2})
		}), nil, iscsi.LoginStatusInitiatorError},
		{"CHAP in the operational stage", nil, []iscsi.KV{{Key: "CHAP_A", Value: "5"}}, iscsi.LoginStatusInitiatorError},
		{"CHAP again in the operational stage", &initiator.Chap{User: chapUser2, Secret: []byte(chapSecret2)},
			[]iscsi.KV{{Key: "CHAP_I", Value: "1"}, {Key: "CHAP_C", Value: "0x0102"}}, iscsi.LoginStatusInitiatorError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			_, err := chapDial(t, d.addr, initiator.Options{TargetName: chapMutualIQN, Chap: tt.chap, ExtraKeys: tt.extra})
			took := time.Since(start)
			if got := loginStatus(err); got != tt.want {
				t.Fatalf("login: %v (status %#04x), want status %#04x", err, uint16(got), uint16(tt.want))
			}
			if tt.want == iscsi.LoginStatusAuthFailure && took < 900*time.Millisecond {
				t.Errorf("authentication failure answered after %v, before the fixed delay", took)
			}
		})
	}
	if !d.alive() {
		t.Fatalf("atgtd died: %v", d.err)
	}
	if _, err := chapDial(t, d.addr, initiator.Options{TargetName: chapMutualIQN, Chap: &initiator.Chap{
		User: chapUser2, Secret: []byte(chapSecret2), TargetUser: chapTgtUser2, TargetSecret: []byte(chapTgtSecret2)}}); err != nil {
		t.Fatalf("good login after the hostile ones: %v", err)
	}
}

// runRefused runs atgtd on a config that must make it exit non-zero at once, and
// returns its output.
func runRefused(t *testing.T, path string) string {
	t.Helper()
	if buildErr != nil {
		t.Fatalf("building atgtd failed: %v", buildErr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, atgtdBin, "-config", path).CombinedOutput()
	var ee *exec.ExitError
	if err == nil || !errors.As(err, &ee) || ee.ExitCode() == 0 || strings.Contains(string(out), "ready portal=") {
		t.Fatalf("atgtd accepted the config (err=%v):\n%s", err, hideSecrets(string(out)))
	}
	for _, s := range chapSecrets {
		if strings.Contains(string(out), s) {
			t.Fatalf("atgtd printed a secret:\n%s", hideSecrets(string(out)))
		}
	}
	return string(out)
}

// TestChapConfigFiles: a world-readable config or secret file holding a secret
// stops atgtd with an error naming it; a short secret is named by its field; a
// private secret file (relative to the config) works.
func TestChapConfigFiles(t *testing.T) {
	t.Run("world-readable config", func(t *testing.T) {
		path := writeChapConfig(t, chapTestConfig(t), 0o644)
		if out := runRefused(t, path); !strings.Contains(out, path) || !strings.Contains(out, "readable by every user") {
			t.Fatalf("error does not name %s:\n%s", path, out)
		}
	})
	t.Run("short secret", func(t *testing.T) {
		cfg := chapTestConfig(t)
		cfg.Targets[1].MutualChap.Secret = chapSecret1[:11]
		out := runRefused(t, writeChapConfig(t, cfg, 0o600))
		if !strings.Contains(out, "targets[1].mutualChap.secret: shorter than 12 bytes") || strings.Contains(out, chapSecret1[:11]) {
			t.Fatalf("error does not name the field, or shows the secret:\n%s", out)
		}
	})
	t.Run("same secret twice", func(t *testing.T) {
		cfg := chapTestConfig(t)
		cfg.Targets[1].MutualChap.Secret = chapSecret2
		if out := runRefused(t, writeChapConfig(t, cfg, 0o600)); !strings.Contains(out, "targets[1].mutualChap.secret: equals targets[1].chap.secret") {
			t.Fatalf("error does not name the field:\n%s", out)
		}
	})
	t.Run("secret files", func(t *testing.T) {
		cfg := chapTestConfig(t)
		cfg.DiscoveryChap, cfg.DiscoveryMutualChap = nil, nil
		cfg.Targets = cfg.Targets[1:2] // the mutual target alone
		cfg.Targets[0].Chap = &chapCred{User: chapUser2, SecretFile: "initiator.secret"}
		cfg.Targets[0].MutualChap = &chapCred{User: chapTgtUser2, SecretFile: "target.secret"}
		path := writeChapConfig(t, cfg, 0o644) // no secret in it: others may read it
		dir := filepath.Dir(path)
		write := func(name, content string, mode os.FileMode) string {
			p := filepath.Join(dir, name)
			if err := os.WriteFile(p, []byte(content), mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(p, mode); err != nil {
				t.Fatal(err)
			}
			return p
		}
		write("initiator.secret", chapSecret2+"\n", 0o600)
		world := write("target.secret", chapTgtSecret2+"\n", 0o644)
		if out := runRefused(t, path); !strings.Contains(out, world) || !strings.Contains(out, "targets[0].mutualChap.secretFile") {
			t.Fatalf("error does not name %s:\n%s", world, out)
		}
		write("target.secret", chapTgtSecret2+"\n", 0o600)
		d := startDaemonArgs(t, "-config", path)
		if _, err := chapDial(t, d.addr, initiator.Options{TargetName: chapMutualIQN, Chap: &initiator.Chap{
			User: chapUser2, Secret: []byte(chapSecret2), TargetUser: chapTgtUser2, TargetSecret: []byte(chapTgtSecret2)}}); err != nil {
			t.Fatalf("login with the secrets from files: %v", err)
		}
	})
}
