package target

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/atgt/atgt/actors/lun"
	"github.com/atgt/atgt/backend"
	pb "github.com/atgt/atgt/messages/atgtv1"
)

// twoGateways is the default config served as node 2 of two gateways.
func twoGateways() *pb.Config {
	c := DefaultConfig()
	c.Portals = []string{"127.0.0.2:3260"}
	c.Targets[0].PortGroups = []*pb.PortGroup{
		{Id: 1, Name: "gw-a", Portals: []string{"127.0.0.1:3260"}},
		{Id: 2, Name: "gw-b", Portals: []string{"127.0.0.2:3260"}},
	}
	c.Targets[0].LocalPortGroup = 2
	return c
}

func TestPortGroupsValid(t *testing.T) {
	cfg := ApplyDefaults(twoGateways())
	if err := Validate(cfg); err != nil {
		t.Fatal(err)
	}
	// A wildcard portal serves any address on its port.
	cfg.Portals = []string{"0.0.0.0:3260"}
	cfg.Targets[0].AllowUnauthenticated = true
	if err := Validate(cfg); err != nil {
		t.Fatal(err)
	}
	g := portGroupsOf(cfg.Targets[0])
	if g.tag() != 2 || !reflect.DeepEqual(g.ids, []uint16{1, 2}) {
		t.Fatalf("port groups %+v", g)
	}
	if got := discoveryAddresses(cfg.Targets[0]); !reflect.DeepEqual(got, []string{"127.0.0.1:3260,1", "127.0.0.2:3260,2"}) {
		t.Fatalf("SendTargets addresses %v", got)
	}
	// An IPv6 zone names this node's interface: SendTargets leaves it out.
	zoned := &pb.Target{PortGroups: []*pb.PortGroup{{Id: 3, Portals: []string{"[fe80::1%eth0]:3260"}}}}
	if got := discoveryAddresses(zoned); !reflect.DeepEqual(got, []string{"[fe80::1]:3260,3"}) {
		t.Fatalf("SendTargets addresses of a zoned portal %v", got)
	}
	// Without port groups: tag 1, the connection's own address, no ALUA model.
	def := ApplyDefaults(DefaultConfig()).Targets[0]
	if g := portGroupsOf(def); g.tag() != 1 || g.model(backend.NewMemory(4096)) != nil || discoveryAddresses(def) != nil {
		t.Fatalf("default port groups %+v", g)
	}
}

func TestPortGroupsNameTheBadField(t *testing.T) {
	refusedNaming(t, twoGateways, []badField{
		{"targets[0].portGroups[0].id", func(c *pb.Config) { c.Targets[0].PortGroups[0].Id = 0 }},
		{"targets[0].portGroups[1].id", func(c *pb.Config) { c.Targets[0].PortGroups[1].Id = 1 }},
		{"targets[0].portGroups[0].id", func(c *pb.Config) { c.Targets[0].PortGroups[0].Id = 65536 }},
		{"targets[0].portGroups[0].portals", func(c *pb.Config) { c.Targets[0].PortGroups[0].Portals = nil }},
		{"targets[0].portGroups[0].portals[0]", func(c *pb.Config) { c.Targets[0].PortGroups[0].Portals[0] = "gw-a:3260" }},
		{"targets[0].portGroups[0].portals[0]", func(c *pb.Config) { c.Targets[0].PortGroups[0].Portals[0] = "0.0.0.0:3260" }},
		{"targets[0].localPortGroup", func(c *pb.Config) { c.Targets[0].LocalPortGroup = 3 }},
		{"targets[0].localPortGroup", func(c *pb.Config) { c.Targets[0].LocalPortGroup = 0 }},
		{"targets[0].localPortGroup", func(c *pb.Config) { c.Targets[0].LocalPortGroup = 1 }}, // node 1's portal
		{"targets[0].localPortGroup", func(c *pb.Config) { c.Targets[0].PortGroups = nil }},
		{"targets[0].aluaHoldSeconds", func(c *pb.Config) { c.Targets[0].AluaHoldSeconds = proto.Uint32(0) }},
		{"targets[0].aluaHoldSeconds", func(c *pb.Config) { c.Targets[0].AluaHoldSeconds = proto.Uint32(3601) }},
		{"targets[0].aluaHoldSeconds", func(c *pb.Config) {
			c.Targets[0].PortGroups, c.Targets[0].LocalPortGroup = nil, 0
			c.Targets[0].AluaHoldSeconds = proto.Uint32(10)
		}},
	})
}

// lockedMemory is a memory backend with an exclusive lock, as RBD's.
type lockedMemory struct {
	backend.Backend
}

func (lockedMemory) IsLockOwner() (bool, error) { return true, nil }

func TestPortGroupsModel(t *testing.T) {
	g := portGroupsOf(ApplyDefaults(twoGateways()).Targets[0])
	if a := g.model(backend.NewMemory(4096)); a == nil || a.Owner != nil || a.Local != 2 {
		t.Fatalf("memory backend: %+v, want static states", a)
	}
	var _ lun.LockOwner = lockedMemory{}
	if a := g.model(lockedMemory{backend.NewMemory(4096)}); a == nil || a.Owner == nil || a.Hold != 0 {
		t.Fatalf("locking backend: %+v, want the lock model with the LUN's default hold", a)
	}
	c := twoGateways()
	c.Targets[0].AluaHoldSeconds = proto.Uint32(60)
	if a := portGroupsOf(ApplyDefaults(c).Targets[0]).model(lockedMemory{backend.NewMemory(4096)}); a.Hold != time.Minute {
		t.Fatalf("aluaHoldSeconds 60: hold %v", a.Hold)
	}
}

// TestPortGroupsNotChangedLive: the admin API refuses a config whose port groups
// differ from the served ones, naming the field, and applies nothing.
func TestPortGroupsNotChangedLive(t *testing.T) {
	old := ApplyDefaults(twoGateways())
	for name, edit := range map[string]func(*pb.Config){
		"local":  func(c *pb.Config) { c.Targets[0].LocalPortGroup = 1 },
		"portal": func(c *pb.Config) { c.Targets[0].PortGroups[0].Portals = []string{"127.0.0.3:3260"} },
		"hold":   func(c *pb.Config) { c.Targets[0].AluaHoldSeconds = proto.Uint32(30) },
		"added": func(c *pb.Config) {
			c.Targets[0].PortGroups = append(c.Targets[0].PortGroups, &pb.PortGroup{Id: 3, Portals: []string{"127.0.0.3:3260"}})
		},
	} {
		next := proto.Clone(old).(*pb.Config)
		edit(next)
		_, err := (&Service{}).diff(old, next, applyOpts{})
		want := "targets[0].portGroups"
		if name == "hold" {
			want = "targets[0].aluaHoldSeconds"
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("%s: %v", name, err)
		}
	}
}
