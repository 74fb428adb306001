package tests

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/atgt/atgt/messages/iscsi"
	"github.com/atgt/atgt/tests/initiator"
)

// Per-initiator CHAP (targets[].initiatorChap): two hosts, each with its own
// credentials, on a target shared with other initiators (which use the target's
// chap) and on one that only they may log in to.
const (
	icSharedIQN = "iqn.2026-11.dev.atgt:ic-shared"
	icOwnIQN    = "iqn.2026-11.dev.atgt:ic-own"
	icHostA     = "iqn.2026-11.dev.example:host-a"
	icHostB     = "iqn.2026-11.dev.example:host-b"
	icOther     = "iqn.2026-11.dev.example:other"

	icUserA, icSecretA       = "host-a", "HostASecret00001"
	icTgtUserA, icTgtSecretA = "tgt-for-a", "TargetForA000002"
	icUserB, icSecretB       = "host-b", "HostBSecret00003"
	icTgtUserB, icTgtSecretB = "tgt-for-b", "TargetForB000004"
	icUser, icSecret         = "shared", "SharedSecret0005"
	icTgtUser, icTgtSecret   = "tgt-shared", "TargetShared0006"
)

var icSecrets = []string{icSecretA, icTgtSecretA, icSecretB, icTgtSecretB, icSecret, icTgtSecret, "HostCSecret00007"}

type (
	icEntry struct {
		Initiator  string    `json:"initiator"`
		Chap       *chapCred `json:"chap,omitempty"`
		MutualChap *chapCred `json:"mutualChap,omitempty"`
	}
	icTarget struct {
		chapTarget
		InitiatorChap []icEntry `json:"initiatorChap,omitempty"`
	}
	icConfig struct {
		testConfig
		Targets []icTarget `json:"targets"`
	}
)

// startInitiatorChapDaemon serves icSharedIQN (the target's mutual CHAP, and host A
// with its own) and icOwnIQN (no chap of its own: hosts A and B only, B one-way; A's
// secret file relative to the config), and checks that no secret reaches the log.
func startInitiatorChapDaemon(t *testing.T) *daemon {
	t.Helper()
	d, _, _ := startInitiatorChapDaemonCfg(t)
	return d
}

// startInitiatorChapDaemonCfg is startInitiatorChapDaemon that also returns the
// config and the path of its file.
func startInitiatorChapDaemonCfg(t *testing.T) (*daemon, icConfig, string) {
	t.Helper()
	base := oneLunConfig(t, 16<<20)
	lun := func(name string) []testLun {
		l := base.Targets[0].Luns[0]
		l.Path = filepath.Join(base.DataDir, name+".img")
		return []testLun{l}
	}
	hostA := icEntry{Initiator: icHostA, Chap: &chapCred{User: icUserA, Secret: icSecretA},
		MutualChap: &chapCred{User: icTgtUserA, Secret: icTgtSecretA}}
	shared := icTarget{chapTarget: chapTarget{testTarget: testTarget{Name: icSharedIQN, Luns: lun("shared")},
		Chap: &chapCred{User: icUser, Secret: icSecret}, MutualChap: &chapCred{User: icTgtUser, Secret: icTgtSecret}},
		InitiatorChap: []icEntry{hostA}}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "host-a.secret"), []byte(icSecretA+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	hostAFile := hostA
	hostAFile.Chap = &chapCred{User: icUserA, SecretFile: "host-a.secret"}
	own := icTarget{chapTarget: chapTarget{testTarget: testTarget{Name: icOwnIQN, Luns: lun("own")}},
		InitiatorChap: []icEntry{hostAFile, {Initiator: icHostB, Chap: &chapCred{User: icUserB, Secret: icSecretB},
			MutualChap: &chapCred{User: icTgtUserB, Secret: icTgtSecretB}}}}
	cfg := icConfig{testConfig: base, Targets: []icTarget{shared, own}}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "atgt.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	d := startDaemonArgs(t, "-config", path, "-log-level", "trace")
	t.Cleanup(func() {
		log := d.stderr.String() + d.stdout.String()
		for _, s := range icSecrets {
			if strings.Contains(log, s) {
				t.Errorf("a CHAP secret is in atgtd's log")
			}
		}
	})
	return d, cfg, path
}

// TestChapPerInitiatorGo: each host logs in only with its own credential and is
// answered, for mutual CHAP, with its own target credential; other initiators use
// the target's, and may not log in at all where the target has none (0202), nor
// does SendTargets name that target to them.
func TestChapPerInitiatorGo(t *testing.T) {
	d := startInitiatorChapDaemon(t)
	cred := func(user, secret, tuser, tsecret string) *initiator.Chap {
		c := &initiator.Chap{User: user, Secret: []byte(secret)}
		if tuser != "" {
			c.TargetUser, c.TargetSecret = tuser, []byte(tsecret)
		}
		return c
	}
	for _, tt := range []struct {
		name, initiator, target string
		chap                    *initiator.Chap
		status                  iscsi.LoginStatus // 0: logs in
		wrongTarget             bool              // the target proves itself with another secret
	}{
		{"host A, own mutual", icHostA, icSharedIQN, cred(icUserA, icSecretA, icTgtUserA, icTgtSecretA), 0, false},
		{"host A, target's credential", icHostA, icSharedIQN, cred(icUser, icSecret, "", ""), iscsi.LoginStatusAuthFailure, false},
		{"host A expects the shared target secret", icHostA, icSharedIQN, cred(icUserA, icSecretA, icTgtUser, icTgtSecret), 0, true},
		{"other, target's mutual", icOther, icSharedIQN, cred(icUser, icSecret, icTgtUser, icTgtSecret), 0, false},
		{"other with host A's credential", icOther, icSharedIQN, cred(icUserA, icSecretA, "", ""), iscsi.LoginStatusAuthFailure, false},
		{"host A, secret from its file", icHostA, icOwnIQN, cred(icUserA, icSecretA, icTgtUserA, icTgtSecretA), 0, false},
		{"host B, own one-way", icHostB, icOwnIQN, cred(icUserB, icSecretB, "", ""), 0, false},
		{"host B with host A's credential", icHostB, icOwnIQN, cred(icUserA, icSecretA, "", ""), iscsi.LoginStatusAuthFailure, false},
		{"other, where the target has no chap", icOther, icOwnIQN, cred(icUser, icSecret, "", ""), iscsi.LoginStatusAuthorizationFailure, false},
		{"other without CHAP, where the target has no chap", icOther, icOwnIQN, nil, iscsi.LoginStatusAuthorizationFailure, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := chapDial(t, d.addr, initiator.Options{InitiatorName: tt.initiator, TargetName: tt.target, Chap: tt.chap})
			switch {
			case tt.wrongTarget:
				if !errors.Is(err, initiator.ErrChapTarget) {
					t.Fatalf("want the target's answer refused (it must prove itself with host A's own secret): %v", err)
				}
			case tt.status == 0 && err != nil:
				t.Fatalf("login refused: %v", err)
			case tt.status != 0 && loginStatus(err) != tt.status:
				t.Fatalf("login: %v, want status %#04x", err, uint16(tt.status))
			}
		})
	}
	t.Run("SendTargets", func(t *testing.T) {
		for _, tt := range []struct {
			initiator string
			own       bool
		}{{icHostB, true}, {icOther, false}} {
			s, err := chapDial(t, d.addr, initiator.Options{InitiatorName: tt.initiator, Discovery: true})
			if err != nil {
				t.Fatal(err)
			}
			kvs, err := s.SendTargets("All")
			if err != nil {
				t.Fatal(err)
			}
			got := fmt.Sprint(kvs)
			if !strings.Contains(got, icSharedIQN) || strings.Contains(got, icOwnIQN) != tt.own {
				t.Fatalf("%s: SendTargets=All %s; want %s, and %s only for the hosts with credentials", tt.initiator, got, icSharedIQN, icOwnIQN)
			}
		}
	})
}

// TestChapPerInitiatorLibiscsi: libiscsi (QEMU's initiator) logs in as host A with
// its own credentials, and is refused with the target's.
func TestChapPerInitiatorLibiscsi(t *testing.T) {
	d := startInitiatorChapDaemon(t)
	url := func(cred, iqn string) string { return fmt.Sprintf("iscsi://%s@%s/%s/%d", cred, d.addr, iqn, testLUN) }
	for _, tt := range []struct {
		name, initiator, url string
		ok                   bool
	}{
		{"host A, own", icHostA, url(icUserA+"%"+icSecretA, icSharedIQN) + "?target_user=" + icTgtUserA + "&target_password=" + icTgtSecretA, true},
		{"host A, target's", icHostA, url(icUser+"%"+icSecret, icSharedIQN), false},
		{"other, target's", icOther, url(icUser+"%"+icSecret, icSharedIQN), true},
		{"host B, own", icHostB, url(icUserB+"%"+icSecretB, icOwnIQN), true},
		{"other, own-only target", icOther, url(icUserB+"%"+icSecretB, icOwnIQN), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runLibiscsi(t, nil, "iscsi-inq", "-i", tt.initiator, tt.url)
			if tt.ok != (err == nil && strings.Contains(out, "Vendor:")) {
				t.Fatalf("ok=%v want %v: %v\n%s", err == nil, tt.ok, err, out)
			}
		})
	}
}

// TestChapPerInitiatorLive: a credential added to the config file is in force after
// SIGHUP, without a restart, and one removed no longer logs in.
func TestChapPerInitiatorLive(t *testing.T) {
	d, cfg, path := startInitiatorChapDaemonCfg(t)
	const hostC, userC, secretC = "iqn.2026-11.dev.example:host-c", "host-c", "HostCSecret00007"
	login := func(name, user, secret string) error {
		_, err := chapDial(t, d.addr, initiator.Options{InitiatorName: name, TargetName: icOwnIQN,
			Chap: &initiator.Chap{User: user, Secret: []byte(secret)}})
		return err
	}
	if err := login(hostC, userC, secretC); loginStatus(err) != iscsi.LoginStatusAuthorizationFailure {
		t.Fatalf("host C before its credential: %v, want 0202", err)
	}
	own := &cfg.Targets[1]
	own.InitiatorChap = append(own.InitiatorChap[1:], icEntry{Initiator: hostC, Chap: &chapCred{User: userC, Secret: secretC}})
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if !d.waitStderr("SIGHUP: config reloaded") {
		t.Fatalf("no reload within 10 s:\n%s", d.stderr)
	}
	if err := login(hostC, userC, secretC); err != nil {
		t.Fatalf("host C after SIGHUP: %v", err)
	}
	if err := login(icHostA, icUserA, icSecretA); loginStatus(err) != iscsi.LoginStatusAuthorizationFailure {
		t.Fatalf("host A after its credential was removed: %v, want 0202", err)
	}
}
