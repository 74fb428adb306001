package inprocess

import (
	"slices"
	"sync"
	"testing"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/atgt/atgt/actors/target"
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/tests/initiator"
)

// TestLUNRouting: a session sends its tasks straight to their LUN actor, looking the
// route up only when the LUN changes (it remembers the last route), so a session that
// alternates LUNs makes one lookup per switch and one that stays makes none; tasks
// reach the right LUN through every switch; a LUN that does not exist is looked up
// each time (never remembered) and the dispatcher answers for it.
func TestLUNRouting(t *testing.T) {
	cfg := baseConfig(t)
	cfg.Targets[0].Luns = append(cfg.Targets[0].Luns, &pb.Lun{Id: 3, Backend: "memory", SizeBytes: lunSize})
	var mu sync.Mutex
	var lookups []uint64 // the LUN of every route the session looked up
	svc := startWith(t, cfg, target.Options{WrapRoute: func(route func(string, uint64) *actor.PID) func(string, uint64) *actor.PID {
		return func(target string, lun uint64) *actor.PID {
			mu.Lock()
			lookups = append(lookups, lun)
			mu.Unlock()
			return route(target, lun)
		}
	}})
	s := dial(t, svc.Addrs()[0], initiator.Options{})
	// addressed lists the LUN of each command, in order (a repeat of one LUN in a
	// row stands for any number of commands).
	var addressed []uint64
	ready(t, s, 0)
	ready(t, s, 3)
	addressed = append(addressed, 0, 3)
	for i := range 4 {
		for _, lun := range []uint64{0, 3, 3, 0} {
			data := randomData(uint64(i)<<8|lun, 4096)
			if err := s.Write(lun, uint64(i*8), data, blockSize, false); err != nil {
				t.Fatalf("write lun %d: %v", lun, err)
			}
			mustReadBack(t, s, lun, uint64(i*8), data)
			addressed = append(addressed, lun, lun)
		}
	}
	// Each LUN holds its own last write, not the other's.
	mustReadBack(t, s, 0, 24, randomData(3<<8|0, 4096))
	mustReadBack(t, s, 3, 24, randomData(3<<8|3, 4096))
	addressed = append(addressed, 0, 3)

	// LUN 7 does not exist: INQUIRY answers with peripheral qualifier 011b, other
	// commands with LOGICAL UNIT NOT SUPPORTED; LUN 0 still works afterwards.
	inq, err := s.Inquiry(7)
	if err != nil || len(inq) == 0 || inq[0] != 0x7f {
		t.Fatalf("INQUIRY of a missing LUN: % x, %v; want peripheral byte 0x7f", inq, err)
	}
	expectSense(t, "TEST UNIT READY of a missing LUN", s.TestUnitReady(7), 0x05, 0x25)
	mustReadBack(t, s, 0, 24, randomData(3<<8|0, 4096))
	addressed = append(addressed, 7, 7, 0)

	// The lookups a session that remembers its last route makes: one whenever the
	// LUN differs from the last one found.
	var want []uint64
	last, found := uint64(0), false
	for _, lun := range addressed {
		if found && lun == last {
			continue
		}
		want = append(want, lun)
		if lun != 7 {
			last, found = lun, true
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(lookups, want) {
		t.Fatalf("route lookups %v (%d), want one per change of LUN: %v (%d)", lookups, len(lookups), want, len(want))
	}
}
