package target

import (
	"testing"

	"github.com/atgt/atgt/actors/dispatcher"
	pb "github.com/atgt/atgt/messages/atgtv1"
)

// TestMayResetTarget: which nexus a target lets reset it, by its targetReset and
// its sets of logical units. Under auto (the default) an initiator may when it sees
// every logical unit of the target: any initiator of a target without initiatorLuns,
// the one listed initiator of a target with no shared LUNs; not a listed initiator
// beside shared LUNs or another listed one, nor an unlisted one beside a listed one.
// allow lets every one, refuse none; a target no longer served refuses.
func TestMayResetTarget(t *testing.T) {
	const name = "iqn.2026-11.dev.atgt:disk1"
	routeA, routeB := dispatcher.RouteName(name, initA), dispatcher.RouteName(name, initB)
	own := func(init string, id uint64) *pb.InitiatorLuns {
		return &pb.InitiatorLuns{Initiator: init, Luns: []*pb.Lun{{Id: id, Backend: "memory", SizeBytes: 1 << 20}}}
	}
	shared := []*pb.Lun{{Id: 0, Backend: "memory", SizeBytes: 1 << 20}}
	type ask struct {
		route string
		want  bool
	}
	tests := []struct {
		name   string
		policy string // "" leaves the default
		luns   []*pb.Lun
		own    []*pb.InitiatorLuns
		asks   []ask
	}{
		{"no initiatorLuns", "", shared, nil, []ask{{name, true}}},
		{"shared and A's own", "", shared, []*pb.InitiatorLuns{own(initA, 0)},
			[]ask{{routeA, false}, {name, false}}},
		{"only A's own", "", nil, []*pb.InitiatorLuns{own(initA, 0)}, []ask{{routeA, true}}},
		{"A's and B's own", "auto", nil, []*pb.InitiatorLuns{own(initA, 0), own(initB, 1)},
			[]ask{{routeA, false}, {routeB, false}}},
		{"allow", "allow", shared, []*pb.InitiatorLuns{own(initA, 0)}, []ask{{routeA, true}, {name, true}}},
		{"refuse", "refuse", shared, nil, []ask{{name, false}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tg := cfg.Targets[0]
			tg.Name, tg.Luns, tg.InitiatorLuns, tg.TargetReset = name, tc.luns, tc.own, tc.policy
			cfg = ApplyDefaults(cfg)
			if err := Validate(cfg); err != nil {
				t.Fatal(err)
			}
			if want := map[string]string{"": TargetResetAuto}[tc.policy]; want != "" && cfg.Targets[0].TargetReset != want {
				t.Fatalf("targetReset defaults to %q, want %q", cfg.Targets[0].TargetReset, want)
			}
			var h accessHolder
			h.set(buildAccess(cfg))
			for _, a := range tc.asks {
				ok, why := h.mayResetTarget(name, a.route)
				if ok != a.want || (!ok && why == "") {
					t.Errorf("route %q: may reset %v (%q), want %v with a reason when refused", a.route, ok, why, a.want)
				}
			}
			if ok, _ := h.mayResetTarget(name+"-gone", name); ok {
				t.Errorf("a target not served may be reset")
			}
		})
	}
}
