package target

import (
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/atgt/atgt/actors/dispatcher"
	pb "github.com/atgt/atgt/messages/atgtv1"
)

const (
	initA = "iqn.2026-11.dev.atgt:init-a"
	initB = "iqn.2026-11.dev.atgt:init-b"
)

// aclConfig is the default config with initA given its own LUNs 0 and 1 (files).
func aclConfig() *pb.Config {
	cfg := DefaultConfig()
	cfg.Targets[0].InitiatorLuns = []*pb.InitiatorLuns{{Initiator: initA, Luns: []*pb.Lun{
		{Id: 0, Path: "a0.img", SizeBytes: 1 << 20},
		{Id: 1, Path: "a1.img", SizeBytes: 1 << 20},
	}}}
	return cfg
}

func TestValidateAccessNamesTheBadField(t *testing.T) {
	tests := []badField{
		{"targets[0].allowedNetworks[1]", func(c *pb.Config) {
			c.Targets[0].AllowedNetworks = []string{"127.0.0.0/8", "127.0.0.0/33"}
		}},
		{"targets[0].allowedNetworks[0]", func(c *pb.Config) { c.Targets[0].AllowedNetworks = []string{"lan"} }},
		{"targets[0].allowedNetworks[0]", func(c *pb.Config) { c.Targets[0].AllowedNetworks = []string{"fe80::1%eth0"} }},
		{"targets[0].initiatorLuns[0].initiator", func(c *pb.Config) { c.Targets[0].InitiatorLuns[0].Initiator = "" }},
		{"targets[0].initiatorLuns[1].initiator", func(c *pb.Config) {
			c.Targets[0].InitiatorLuns = append(c.Targets[0].InitiatorLuns,
				&pb.InitiatorLuns{Initiator: initA, Luns: []*pb.Lun{{Id: 0, Backend: "memory", SizeBytes: 1 << 20}}})
		}},
		{"targets[0].initiatorLuns[0].initiator", func(c *pb.Config) { c.Targets[0].AllowedInitiators = []string{initB} }},
		{"targets[0].initiatorLuns[0].luns", func(c *pb.Config) { c.Targets[0].InitiatorLuns[0].Luns = nil }},
		{"targets[0].initiatorLuns[0].luns[1].id", func(c *pb.Config) { c.Targets[0].InitiatorLuns[0].Luns[1].Id = 0 }},
		{"targets[0].initiatorLuns[0].luns[0].blockSize", func(c *pb.Config) { c.Targets[0].InitiatorLuns[0].Luns[0].BlockSize = 1000 }},
		// Backing files are unique across the whole config: within a set, against
		// the shared LUNs, and against another initiator's set.
		{"targets[0].initiatorLuns[0].luns[1].path", func(c *pb.Config) {
			c.Targets[0].InitiatorLuns[0].Luns[1].Path = c.Targets[0].InitiatorLuns[0].Luns[0].Path
		}},
		{"targets[0].initiatorLuns[0].luns[0].path", func(c *pb.Config) {
			c.Targets[0].InitiatorLuns[0].Luns[0].Path = c.Targets[0].Luns[0].Path
		}},
		{"targets[0].initiatorLuns[1].luns[0].path", func(c *pb.Config) {
			c.Targets[0].InitiatorLuns = append(c.Targets[0].InitiatorLuns, &pb.InitiatorLuns{Initiator: initB,
				Luns: []*pb.Lun{{Id: 0, Path: filepath.Join(DefaultDataDir, "x", "..", "a1.img"), SizeBytes: 1 << 20,
					Backend: "file", BlockSize: 512, Workers: 1}}})
		}},
		{"targets[0].luns", func(c *pb.Config) { c.Targets[0].Luns, c.Targets[0].InitiatorLuns = nil, nil }},
		{"targets[0].allowUnauthenticated", func(c *pb.Config) { c.Portals = []string{"0.0.0.0:3260"} }},
		{"targets[0].allowUnauthenticated", func(c *pb.Config) { c.Portals = []string{"127.0.0.1:3260", ":3260"} }},
		{"targets[0].allowUnauthenticated", func(c *pb.Config) { c.Portals = []string{"[::]:3260"} }},
		{"targets[1].allowUnauthenticated", func(c *pb.Config) {
			c.Portals = []string{"192.0.2.1:3260"}
			c.Targets[0].AllowedNetworks = []string{"192.0.2.0/24"}
			c.Targets = append(c.Targets, &pb.Target{Name: "iqn.2026-11.dev.atgt:open",
				Luns: []*pb.Lun{{Id: 0, Backend: "memory", SizeBytes: 1 << 20, BlockSize: 512, Workers: 1}}})
		}},
	}
	refusedNaming(t, aclConfig, tests)
}

// TestValidateAccessAccepts: the configs the access rules allow.
func TestValidateAccessAccepts(t *testing.T) {
	tests := []struct {
		name string
		edit func(c *pb.Config)
	}{
		{"per-initiator luns beside shared", func(c *pb.Config) {}},
		{"only per-initiator luns", func(c *pb.Config) { c.Targets[0].Luns = nil }},
		{"networks", func(c *pb.Config) {
			c.Targets[0].AllowedNetworks = []string{"127.0.0.2", "10.0.0.0/8", "2001:db8::/32", "::ffff:192.0.2.0/120"}
		}},
		{"loopback portals", func(c *pb.Config) { c.Portals = []string{"127.0.0.2:3260", "[::1]:3260", "localhost:3260"} }},
		{"exposed with allowUnauthenticated", func(c *pb.Config) {
			c.Portals = []string{"0.0.0.0:3260"}
			c.Targets[0].AllowUnauthenticated = true
		}},
		{"exposed with an initiator list", func(c *pb.Config) {
			c.Portals = []string{"192.0.2.1:3260"}
			c.Targets[0].AllowedInitiators = []string{initA}
		}},
		{"exposed with a network list", func(c *pb.Config) {
			c.Portals = []string{"192.0.2.1:3260"}
			c.Targets[0].AllowedNetworks = []string{"192.0.2.0/24"}
		}},
		{"exposed with only per-initiator luns", func(c *pb.Config) {
			c.Portals = []string{"192.0.2.1:3260"}
			c.Targets[0].Luns = nil
		}},
		{"exposed with CHAP", func(c *pb.Config) {
			c.Portals = []string{"192.0.2.1:3260"}
			c.Targets[0].Chap = &pb.Chap{User: "alice", Secret: "a-long-secret-1"}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ApplyDefaults(aclConfig())
			tc.edit(cfg)
			if err := Validate(cfg); err != nil {
				t.Fatal(err)
			}
		})
	}
	// The embedded default listens on loopback only and so needs no opt-out.
	d := ApplyDefaults(DefaultConfig())
	if len(d.Portals) != 1 || d.Portals[0] != "127.0.0.1:3260" || len(exposures(d)) != 0 {
		t.Fatalf("default portals %v, exposures %v", d.Portals, exposures(d))
	}
}

func TestLoopbackPortal(t *testing.T) {
	for p, want := range map[string]bool{
		"127.0.0.1:3260": true, "127.1.2.3:0": true, "[::1]:3260": true, "[::ffff:127.0.0.1]:3260": true,
		"localhost:3260": true, "0.0.0.0:3260": false, ":3260": false, "[::]:3260": false,
		"192.0.2.1:3260": false, "nonsense": false,
	} {
		if got := loopbackPortal(p); got != want {
			t.Errorf("loopbackPortal(%q) = %v, want %v", p, got, want)
		}
	}
}

func TestAllowFrom(t *testing.T) {
	if allowFrom(nil) != nil {
		t.Fatal("no networks must admit every address (nil check)")
	}
	f := allowFrom([]string{"127.0.0.2", "10.1.0.0/16", "2001:db8::/32"})
	for a, want := range map[string]bool{
		"127.0.0.2": true, "127.0.0.1": false, "10.1.200.3": true, "10.2.0.1": false,
		"::ffff:10.1.0.9": true, "2001:db8::5": true, "2001:db9::5": false,
	} {
		if got := f(netip.MustParseAddr(a)); got != want {
			t.Errorf("%s: %v, want %v", a, got, want)
		}
	}
	if f(netip.Addr{}) {
		t.Error("an unknown peer address was admitted")
	}
}

// TestInitiatorAccess: who may log in to a target with per-initiator LUNs, and by
// which route their tasks go.
func TestInitiatorAccess(t *testing.T) {
	cfg := ApplyDefaults(aclConfig())
	tg := cfg.Targets[0]
	if initiatorAllowList(tg) != nil {
		t.Fatal("a target with shared LUNs and no allowedInitiators admits everyone")
	}
	route := initiatorRoute(tg)
	if got := route(initA); got != dispatcher.RouteName(tg.Name, initA) {
		t.Fatalf("route of %s: %q", initA, got)
	}
	if got := route(initB); got != tg.Name {
		t.Fatalf("route of %s: %q", initB, got)
	}
	tg.Luns = nil
	allowed := initiatorAllowList(tg)
	if allowed == nil || !allowed(initA) || allowed(initB) {
		t.Fatal("without shared LUNs only the initiators with their own may log in")
	}
	if !hasAuth(tg) || hasAuth(ApplyDefaults(aclConfig()).Targets[0]) {
		t.Fatal("per-initiator LUNs limit logins only without shared LUNs")
	}
}

// TestStartRefusesExposure: Start refuses a target served on a non-loopback portal
// without authentication, naming the field, before it listens; one that opted out is
// valid. A warning is logged either way. (The opted-out config is not started: the
// tests listen on loopback only.)
func TestStartRefusesExposure(t *testing.T) {
	var logged strings.Builder
	log := hclog.New(&hclog.LoggerOptions{Output: &logged, Level: hclog.Warn})
	cfg := &pb.Config{
		Portals: []string{"0.0.0.0:0"},
		DataDir: t.TempDir(),
		Targets: []*pb.Target{{Name: "iqn.2026-11.dev.atgt:t", Luns: []*pb.Lun{{Id: 0, Backend: "memory", SizeBytes: 1 << 20}}}},
	}
	if svc, err := Start(cfg, log); err == nil {
		svc.Stop(stopAfterFailedStart)
		t.Fatal("an unauthenticated target started on 0.0.0.0")
	} else if !strings.Contains(err.Error(), "targets[0].allowUnauthenticated:") {
		t.Fatalf("error %q does not name the field", err)
	}
	if !strings.Contains(logged.String(), "refusing") {
		t.Fatalf("no warning logged:\n%s", logged.String())
	}
	logged.Reset()
	cfg.Targets[0].AllowUnauthenticated = true
	d := ApplyDefaults(cfg)
	if err := Validate(d); err != nil {
		t.Fatal(err)
	}
	warnExposures(d, log)
	if !strings.Contains(logged.String(), "without authentication") || strings.Contains(logged.String(), "refusing") {
		t.Fatalf("wrong warning logged:\n%s", logged.String())
	}
}
