package inprocess

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"

	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/tests/initiator"
)

// TestLogin covers login outcomes: status class/detail of failures (RFC 7143
// 11.13.5) and SendTargets discovery with the portal address.
func TestLogin(t *testing.T) {
	const (
		restricted = "iqn.2026-11.dev.atgt:restricted"
		friend     = "iqn.2026-11.dev.atgt:friend"
	)
	cfg := baseConfig(t)
	cfg.Targets = append(cfg.Targets, &pb.Target{Name: restricted, AllowedInitiators: []string{friend},
		Luns: []*pb.Lun{{Id: 0, Backend: "memory", SizeBytes: 1 << 20}}})
	svc := start(t, cfg, nil)
	addr := svc.Addrs()[0]

	failures := []struct {
		name          string
		o             initiator.Options
		class, detail uint8
	}{
		{"unknown target", initiator.Options{TargetName: "iqn.2026-11.dev.atgt:missing"}, 2, 3},
		{"initiator not allowed", initiator.Options{TargetName: restricted}, 2, 2},
		{"not allowed, with security stage", initiator.Options{TargetName: restricted, Security: true}, 2, 2},
	}
	for i, tc := range failures {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.InitiatorName = initiatorName
			tc.o.ISID = isid(800 + i)
			s, err := initiator.Dial(addr, tc.o)
			if err == nil {
				s.Close()
				t.Fatalf("login succeeded")
			}
			var le *initiator.LoginError
			if !errors.As(err, &le) || le.Class != tc.class || le.Detail != tc.detail {
				t.Fatalf("got %v, want login status %d/%d", err, tc.class, tc.detail)
			}
		})
	}
	t.Run("allowed initiator", func(t *testing.T) {
		s := dial(t, addr, initiator.Options{InitiatorName: friend, TargetName: restricted, ISID: isid(810)})
		ready(t, s, 0)
	})

	discovery := []struct {
		name, initiator string
		want            []string
	}{
		{"open targets only", initiatorName, []string{targetName}},
		{"allowed initiator sees both", friend, []string{targetName, restricted}},
	}
	for i, tc := range discovery {
		t.Run("SendTargets=All, "+tc.name, func(t *testing.T) {
			s := dial(t, addr, initiator.Options{InitiatorName: tc.initiator, Discovery: true, ISID: isid(820 + i)})
			kvs, err := s.SendTargets("All")
			if err != nil {
				t.Fatalf("SendTargets: %v", err)
			}
			var names []string
			for j, kv := range kvs {
				switch kv.Key {
				case "TargetName":
					names = append(names, kv.Value)
					if j+1 >= len(kvs) || kvs[j+1].Key != "TargetAddress" || kvs[j+1].Value != addr+",1" {
						t.Errorf("%s: not followed by TargetAddress=%s,1: %v", kv.Value, addr, kvs)
					}
				case "TargetAddress":
				default:
					t.Errorf("unexpected key %s=%s", kv.Key, kv.Value)
				}
			}
			if len(names) != len(tc.want) {
				t.Fatalf("targets %v, want %v", names, tc.want)
			}
			for j := range names {
				if names[j] != tc.want[j] {
					t.Fatalf("targets %v, want %v", names, tc.want)
				}
			}
			if err := s.Logout(); err != nil {
				t.Fatalf("discovery logout: %v", err)
			}
		})
	}
}

// TestLoginTimeout: a silent connection that has not logged in login_timeout_seconds
// after accept is closed by the target; a session that logged in meanwhile is not, and
// its NOP-In pings still come. (tests/badinput_test.go covers more ways not to log in.)
func TestLoginTimeout(t *testing.T) {
	const timeout = time.Second
	cfg := baseConfig(t)
	cfg.LoginTimeoutSeconds = uint32(timeout / time.Second)
	cfg.NopIntervalSeconds = 2
	svc := start(t, cfg, nil)
	addr := svc.Addrs()[0]

	silent, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	begin := time.Now()
	s := dial(t, addr, initiator.Options{ISID: isid(830)})
	silent.SetReadDeadline(begin.Add(timeout + 2*time.Second))
	if n, err := silent.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("silent connection after %v: read %d bytes, %v; want it closed by the target", time.Since(begin), n, err)
	}
	if took := time.Since(begin); took < timeout*3/4 {
		t.Fatalf("silent connection closed after %v, before its login timeout of %v", took, timeout)
	}
	// The logged-in session outlives the login timeout and is pinged on schedule.
	select {
	case <-s.Done():
		t.Fatalf("logged-in session closed: %v", s.Err())
	case <-time.After(time.Until(begin.Add(2*time.Second + 500*time.Millisecond))):
	}
	if s.Pings.Load() < 1 {
		t.Fatalf("no NOP-In ping 2.5s after login with a 2s interval")
	}
	if err := s.Nop(nil); err != nil {
		t.Fatalf("nop after the login timeout: %v", err)
	}
}
