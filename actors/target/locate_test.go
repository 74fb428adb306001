package target

import (
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/atgt/atgt/actors/gateway"
	"github.com/atgt/atgt/backend"
)

// namedLock is a memory backend with a lock whose holders it can name, as RBD's.
type namedLock struct {
	lockedMemory
}

func (namedLock) LockOwners() ([]string, error) { return []string{"127.0.0.1:0/1"}, nil }
func (namedLock) LockClient() (string, error)   { return "127.0.0.1:0/1", nil }

// TestLocateOwner: a LUN with the lock model, an event channel and a backend that
// names the lock's holders gets a locator; missing any of them, it does not.
func TestLocateOwner(t *testing.T) {
	ch, err := gateway.Open(gateway.NewMemHub().Bus(), 2)
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	g := portGroupsOf(ApplyDefaults(twoGateways()).Targets[0])
	named := namedLock{lockedMemory{backend.NewMemory(4096)}}
	for _, c := range []struct {
		name string
		b    backend.Backend
		ch   *gateway.Channel
		want bool
	}{
		{"rbd-like", named, ch, true},
		{"no channel", named, nil, false},
		{"lock without names", lockedMemory{backend.NewMemory(4096)}, ch, false},
		{"no lock", backend.NewMemory(4096), ch, false},
	} {
		a := g.model(c.b)
		locateOwner(a, c.ch, c.b, hclog.NewNullLogger())
		if got := a.Locate != nil; got != c.want {
			t.Errorf("%s: locator %v, want %v", c.name, got, c.want)
			continue
		}
		if c.want {
			if o, err := a.Locate.OwnerGroup(); o != 2 || err != nil {
				t.Errorf("%s: owner group %d (%v), want this node's 2", c.name, o, err)
			}
		}
	}
	locateOwner(nil, ch, named, hclog.NewNullLogger()) // no port groups: nothing to do
}
