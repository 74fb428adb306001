package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/atgt/atgt/messages/iscsi"
	"github.com/atgt/atgt/tests/initiator"
)

// CHAP config types: the plain test config and target with the CHAP fields of
// proto/atgt/v1/config.proto. The outer Targets hides the embedded one in JSON.
type (
	chapCred struct {
		User       string `json:"user"`
		Secret     string `json:"secret,omitempty"`
		SecretFile string `json:"secretFile,omitempty"`
	}
	chapTarget struct {
		testTarget
		Chap           *chapCred `json:"chap,omitempty"`
		MutualChap     *chapCred `json:"mutualChap,omitempty"`
		ChapAlgorithms []string  `json:"chapAlgorithms,omitempty"`
	}
	chapConfig struct {
		testConfig
		Targets             []chapTarget `json:"targets"`
		DiscoveryChap       *chapCred    `json:"discoveryChap,omitempty"`
		DiscoveryMutualChap *chapCred    `json:"discoveryMutualChap,omitempty"`
		ChapAlgorithms      []string     `json:"chapAlgorithms,omitempty"`
	}
)

// The CHAP test targets and credentials (the secrets are alphanumeric, for URLs).
const (
	chapOneWayIQN = "iqn.2026-11.dev.atgt:chap-oneway"
	chapMutualIQN = "iqn.2026-11.dev.atgt:chap-mutual"
	chapSHA256IQN = "iqn.2026-11.dev.atgt:chap-sha256"
	chapOpenIQN   = "iqn.2026-11.dev.atgt:open"

	chapUser1, chapSecret1       = "alice", "AliceSecret0001"
	chapUser2, chapSecret2       = "bob", "BobSecret000002"
	chapTgtUser2, chapTgtSecret2 = "target-b", "TargetSecret0003"
	chapUser3, chapSecret3       = "carol", "CarolSecret0004"
	chapDiscUser, chapDiscSecret = "disco", "DiscoverySecret5"
	chapDiscTgt, chapDiscTgtSec  = "disco-target", "DiscoveryTarget6"
)

// chapSecrets are every secret of chapTestConfig, which must never reach a log.
var chapSecrets = []string{chapSecret1, chapSecret2, chapTgtSecret2, chapSecret3, chapDiscSecret, chapDiscTgtSec}

// chapTestConfig serves four targets: one-way CHAP (default algorithms), mutual CHAP
// (all four algorithms named), one-way CHAP with SHA-256 only, and one without
// CHAP; discovery needs mutual-capable CHAP.
func chapTestConfig(t *testing.T) chapConfig {
	base := oneLunConfig(t, 16<<20)
	lun := base.Targets[0].Luns[0]
	target := func(iqn string) chapTarget {
		l := lun
		l.Path = filepath.Join(base.DataDir, strings.TrimPrefix(iqn, "iqn.2026-11.dev.atgt:")+".img")
		return chapTarget{testTarget: testTarget{Name: iqn, Luns: []testLun{l}}}
	}
	oneWay := target(chapOneWayIQN)
	oneWay.Chap = &chapCred{User: chapUser1, Secret: chapSecret1}
	mutual := target(chapMutualIQN)
	mutual.Chap = &chapCred{User: chapUser2, Secret: chapSecret2}
	mutual.MutualChap = &chapCred{User: chapTgtUser2, Secret: chapTgtSecret2}
	mutual.ChapAlgorithms = []string{"SHA3-256", "SHA-256", "SHA-1", "MD5"}
	sha := target(chapSHA256IQN)
	sha.Chap = &chapCred{User: chapUser3, Secret: chapSecret3}
	sha.ChapAlgorithms = []string{"SHA-256"}
	return chapConfig{
		testConfig:          base,
		Targets:             []chapTarget{oneWay, mutual, sha, target(chapOpenIQN)},
		DiscoveryChap:       &chapCred{User: chapDiscUser, Secret: chapDiscSecret},
		DiscoveryMutualChap: &chapCred{User: chapDiscTgt, Secret: chapDiscTgtSec},
	}
}

// writeChapConfig writes cfg as a config file with the given mode; the test log
// shows it with its secrets hidden.
func writeChapConfig(t *testing.T, cfg chapConfig, mode os.FileMode) string {
	t.Helper()
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "atgt.json")
	if err := os.WriteFile(path, b, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	t.Logf("config %s (mode %04o):\n%s", path, mode, hideSecrets(string(b)))
	return path
}

// hideSecrets replaces the test secrets in s, for the test log.
func hideSecrets(s string) string {
	for _, sec := range chapSecrets {
		s = strings.ReplaceAll(s, sec, "***")
	}
	return s
}

// startChapDaemon starts atgtd on cfg (written mode 0600) at log level trace, and
// checks when the test ends that no secret reached its log.
func startChapDaemon(t *testing.T, cfg chapConfig) *daemon {
	t.Helper()
	d := startDaemonArgs(t, "-config", writeChapConfig(t, cfg, 0o600), "-log-level", "trace")
	t.Cleanup(func() {
		log := d.stderr.String() + d.stdout.String()
		for _, s := range chapSecrets {
			if strings.Contains(log, s) {
				t.Errorf("a CHAP secret is in atgtd's log")
			}
		}
	})
	return d
}

// runLibiscsi runs a libiscsi tool with only the given LIBISCSI_CHAP_* variables
// set, and logs its command line with the secrets hidden.
func runLibiscsi(t *testing.T, env []string, name string, args ...string) (string, error) {
	t.Helper()
	requireLibiscsi(t, name)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.WaitDelay = 5 * time.Second
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "LIBISCSI_CHAP_") {
			cmd.Env = append(cmd.Env, e)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	t.Logf("$ %s %s %s  (%v, err=%v)", hideSecrets(strings.Join(env, " ")), name, hideSecrets(strings.Join(args, " ")),
		time.Since(start).Round(time.Millisecond), err)
	return out.String(), err
}

// TestChapLibiscsi: libiscsi's tools log in with correct one-way and mutual CHAP
// secrets, from the URL or the environment, and are refused with wrong ones, after
// the fixed delay.
func TestChapLibiscsi(t *testing.T) {
	d := startChapDaemon(t, chapTestConfig(t))
	url := func(cred, iqn, query string) string {
		return fmt.Sprintf("iscsi://%s%s/%s/%d%s", cred, d.addr, iqn, testLUN, query)
	}
	tests := []struct {
		name string
		env  []string
		url  string
		ok   bool
	}{
		{"one-way in the URL", nil, url(chapUser1+"%"+chapSecret1+"@", chapOneWayIQN, ""), true},
		{"one-way in the environment", []string{"LIBISCSI_CHAP_USERNAME=" + chapUser1, "LIBISCSI_CHAP_PASSWORD=" + chapSecret1},
			url("", chapOneWayIQN, ""), true},
		{"one-way, wrong secret", nil, url(chapUser1+"%WrongSecret0001@", chapOneWayIQN, ""), false},
		{"one-way, wrong user", nil, url("mallory%"+chapSecret1+"@", chapOneWayIQN, ""), false},
		{"one-way, another target's secret", nil, url(chapUser2+"%"+chapSecret2+"@", chapOneWayIQN, ""), false},
		{"one-way, no CHAP", nil, url("", chapOneWayIQN, ""), false},
		{"mutual in the URL", nil, url(chapUser2+"%"+chapSecret2+"@", chapMutualIQN,
			"?target_user="+chapTgtUser2+"&target_password="+chapTgtSecret2), true},
		{"mutual in the environment", []string{"LIBISCSI_CHAP_USERNAME=" + chapUser2, "LIBISCSI_CHAP_PASSWORD=" + chapSecret2,
			"LIBISCSI_CHAP_TARGET_USERNAME=" + chapTgtUser2, "LIBISCSI_CHAP_TARGET_PASSWORD=" + chapTgtSecret2},
			url("", chapMutualIQN, ""), true},
		{"mutual, one-way only", nil, url(chapUser2+"%"+chapSecret2+"@", chapMutualIQN, ""), true},
		{"mutual, wrong initiator secret", nil, url(chapUser2+"%WrongSecret0002@", chapMutualIQN,
			"?target_user="+chapTgtUser2+"&target_password="+chapTgtSecret2), false},
		{"mutual, wrong target secret", nil, url(chapUser2+"%"+chapSecret2+"@", chapMutualIQN,
			"?target_user="+chapTgtUser2+"&target_password=WrongTarget00003"), false},
		{"mutual, wrong target user", nil, url(chapUser2+"%"+chapSecret2+"@", chapMutualIQN,
			"?target_user=someone&target_password="+chapTgtSecret2), false},
		{"MD5 not allowed", nil, url(chapUser3+"%"+chapSecret3+"@", chapSHA256IQN, ""), false},
		{"no CHAP on an open target", nil, url("", chapOpenIQN, ""), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			out, err := runLibiscsi(t, tt.env, "iscsi-inq", tt.url)
			took := time.Since(start)
			if tt.ok && (err != nil || !strings.Contains(out, "Vendor:")) {
				t.Fatalf("login refused: %v\n%s", err, out)
			}
			if !tt.ok && err == nil {
				t.Fatalf("login accepted:\n%s", out)
			}
			if !tt.ok && strings.Contains(tt.name, "wrong") && !strings.Contains(tt.name, "target") && took < 900*time.Millisecond {
				t.Errorf("refused after %v, before the fixed delay", took)
			}
		})
	}
	t.Run("discovery", func(t *testing.T) {
		out, err := runLibiscsi(t, nil, "iscsi-ls", fmt.Sprintf("iscsi://%s%%%s@%s", chapDiscUser, chapDiscSecret, d.addr))
		if err != nil || !strings.Contains(out, chapMutualIQN) || !strings.Contains(out, chapOpenIQN) {
			t.Fatalf("discovery with CHAP: %v\n%s", err, out)
		}
		out, err = runLibiscsi(t, []string{"LIBISCSI_CHAP_USERNAME=" + chapDiscUser, "LIBISCSI_CHAP_PASSWORD=" + chapDiscSecret,
			"LIBISCSI_CHAP_TARGET_USERNAME=" + chapDiscTgt, "LIBISCSI_CHAP_TARGET_PASSWORD=" + chapDiscTgtSec},
			"iscsi-ls", "iscsi://"+d.addr)
		if err != nil || !strings.Contains(out, chapOneWayIQN) {
			t.Fatalf("discovery with mutual CHAP: %v\n%s", err, out)
		}
		if out, err := runLibiscsi(t, nil, "iscsi-ls", fmt.Sprintf("iscsi://%s%%WrongDiscovery7@%s", chapDiscUser, d.addr)); err == nil {
			t.Fatalf("discovery with a wrong secret listed:\n%s", out)
		}
		if out, err := runLibiscsi(t, nil, "iscsi-ls", "iscsi://"+d.addr); err == nil {
			t.Fatalf("discovery without CHAP listed:\n%s", out)
		}
	})
}

// chapDial logs in with the Go initiator and, in a normal session, runs INQUIRY.
func chapDial(t *testing.T, addr string, o initiator.Options) (*initiator.Session, error) {
	t.Helper()
	if o.InitiatorName == "" {
		o.InitiatorName = "iqn.2026-11.dev.atgt:chap-client"
	}
	o.Timeout = 10 * time.Second
	s, err := initiator.Dial(addr, o)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { s.Close() })
	if !o.Discovery {
		if _, err := s.Inquiry(uint64(testLUN)); err != nil {
			t.Fatalf("INQUIRY after CHAP: %v", err)
		}
	}
	return s, nil
}

// loginStatus is the login status of a failed Dial (0 if it is no login failure).
func loginStatus(err error) iscsi.LoginStatus {
	var le *initiator.LoginError
	if errors.As(err, &le) {
		return le.Status()
	}
	return 0
}

// TestChapGoInitiator: the module's initiator logs in with each of the four
// algorithms, one-way and mutual, and to discovery with CHAP.
func TestChapGoInitiator(t *testing.T) {
	d := startChapDaemon(t, chapTestConfig(t))
	for _, alg := range []uint8{5, 6, 7, 8} {
		for _, mutual := range []bool{false, true} {
			t.Run(fmt.Sprintf("CHAP_A=%d mutual=%v", alg, mutual), func(t *testing.T) {
				c := &initiator.Chap{User: chapUser2, Secret: []byte(chapSecret2), Algorithms: []uint8{alg}}
				if mutual {
					c.TargetUser, c.TargetSecret = chapTgtUser2, []byte(chapTgtSecret2)
				}
				s, err := chapDial(t, d.addr, initiator.Options{TargetName: chapMutualIQN, Chap: c})
				if err != nil {
					t.Fatalf("login: %v", err)
				}
				if got := s.Params.Keys["CHAP_A"]; got != fmt.Sprint(alg) {
					t.Fatalf("CHAP_A=%s", got)
				}
			})
		}
	}
	t.Run("target preference", func(t *testing.T) {
		s, err := chapDial(t, d.addr, initiator.Options{TargetName: chapOneWayIQN,
			Chap: &initiator.Chap{User: chapUser1, Secret: []byte(chapSecret1), Algorithms: []uint8{5, 6, 7, 8}}})
		if err != nil || s.Params.Keys["CHAP_A"] != "8" {
			t.Fatalf("login %v, CHAP_A chosen from 5,6,7,8: want 8", err)
		}
	})
	t.Run("wrong target secret", func(t *testing.T) {
		_, err := chapDial(t, d.addr, initiator.Options{TargetName: chapMutualIQN, Chap: &initiator.Chap{
			User: chapUser2, Secret: []byte(chapSecret2), TargetUser: chapTgtUser2, TargetSecret: []byte("NotTheTarget0001")}})
		if !errors.Is(err, initiator.ErrChapTarget) {
			t.Fatalf("a target that answered with another secret was accepted: %v", err)
		}
	})
	t.Run("discovery", func(t *testing.T) {
		s, err := chapDial(t, d.addr, initiator.Options{Discovery: true, Chap: &initiator.Chap{
			User: chapDiscUser, Secret: []byte(chapDiscSecret), Algorithms: []uint8{7},
			TargetUser: chapDiscTgt, TargetSecret: []byte(chapDiscTgtSec)}})
		if err != nil {
			t.Fatalf("discovery login: %v", err)
		}
		kvs, err := s.SendTargets("All")
		if err != nil || len(kvs) == 0 {
			t.Fatalf("SendTargets: %v %v", kvs, err)
		}
		if _, err := chapDial(t, d.addr, initiator.Options{Discovery: true}); loginStatus(err) != iscsi.LoginStatusAuthFailure {
			t.Fatalf("discovery without CHAP: %v", err)
		}
		if _, err := chapDial(t, d.addr, initiator.Options{Discovery: true, Security: true}); loginStatus(err) != iscsi.LoginStatusAuthFailure {
			t.Fatalf("discovery with AuthMethod=None: %v", err)
		}
	})
	t.Run("open target needs none", func(t *testing.T) {
		if _, err := chapDial(t, d.addr, initiator.Options{TargetName: chapOpenIQN}); err != nil {
			t.Fatalf("open target: %v", err)
		}
	})
}
