package inprocess

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atgt/atgt/backend"
	"github.com/atgt/atgt/tests/initiator"
)

// overlapGate is a backend that holds every call for a moment and records the most
// calls it ever held at once, so that a test can see whether IO ran in parallel.
type overlapGate struct {
	backend.Backend
	now, most atomic.Int32
}

func (g *overlapGate) enter() {
	n := g.now.Add(1)
	for {
		m := g.most.Load()
		if n <= m || g.most.CompareAndSwap(m, n) {
			break
		}
	}
	time.Sleep(2 * time.Millisecond) // long enough for another worker to arrive
}

func (g *overlapGate) ReadAt(p []byte, off int64) (int, error) {
	g.enter()
	defer g.now.Add(-1)
	return g.Backend.ReadAt(p, off)
}

func (g *overlapGate) WriteAt(p []byte, off int64, stable bool) error {
	g.enter()
	defer g.now.Add(-1)
	return g.Backend.WriteAt(p, off, stable)
}

func (g *overlapGate) Sync() error {
	g.enter()
	defer g.now.Add(-1)
	return g.Backend.Sync()
}

// policyLoad runs concurrent writes and reads of disjoint 8 KiB ranges from four
// sessions against a LUN with io_policy policy, its backend behind the gate and the
// counters (counted inside the gate, so a sync the policy adds is counted too).
func policyLoad(t *testing.T, policy string, writes int) (*overlapGate, *backend.Counters) {
	cfg := baseConfig(t)
	cfg.Targets[0].Luns[0].IoPolicy = policy
	gate, counts := &overlapGate{}, &backend.Counters{}
	svc := start(t, cfg, func(_ string, _ uint64, b backend.Backend) backend.Backend {
		gate.Backend = backend.WithCounters(b, counts)
		return gate
	})
	const sessions = 4
	var wg sync.WaitGroup
	errs := make(chan error, sessions)
	for n := range sessions {
		s := dial(t, svc.Addrs()[0], initiator.Options{ISID: isid(300 + n)})
		ready(t, s, 0)
		wg.Add(1)
		go func() {
			defer wg.Done()
			data := randomData(uint64(n), 8192)
			for i := range writes / sessions {
				lba := uint64((n*1000 + i*2) * 16) // gaps between ranges: nothing merges
				if err := s.Write(0, lba, data, blockSize, false); err != nil {
					errs <- fmt.Errorf("session %d write: %w", n, err)
					return
				}
				if _, err := s.Read(0, lba, 16, blockSize); err != nil {
					errs <- fmt.Errorf("session %d read: %w", n, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return gate, counts
}

// TestSinglePolicyRunsOneIOAtATime checks that single and single-sync never have two
// backend calls in flight, and (the control) that threaded does.
func TestSinglePolicyRunsOneIOAtATime(t *testing.T) {
	for _, tc := range []struct {
		policy   string
		parallel bool
	}{{"single", false}, {"single-sync", false}, {"threaded", true}} {
		t.Run(tc.policy, func(t *testing.T) {
			gate, _ := policyLoad(t, tc.policy, 64)
			most := gate.most.Load()
			switch {
			case !tc.parallel && most != 1:
				t.Fatalf("%d backend calls ran at once under %s", most, tc.policy)
			case tc.parallel && most < 2:
				t.Fatalf("threaded never ran two backend calls at once (most %d): the check cannot see parallel IO", most)
			}
			t.Logf("%s: at most %d backend calls at once", tc.policy, most)
		})
	}
}

// TestSingleSyncSyncsEveryWrite checks that single-sync follows each write with a
// sync of the whole backend before GOOD, and that the other policies add none.
func TestSingleSyncSyncsEveryWrite(t *testing.T) {
	const writes = 32
	for _, policy := range []string{"single-sync", "single", "threaded"} {
		t.Run(policy, func(t *testing.T) {
			_, c := policyLoad(t, policy, writes)
			w, s, st := c.Writes.Load(), c.Syncs.Load(), c.StableWrites.Load()
			if w != writes || st != 0 {
				t.Fatalf("%d writes (%d stable), want %d plain ones", w, st, writes)
			}
			want := int64(0)
			if policy == "single-sync" {
				want = writes
			}
			if s != want {
				t.Fatalf("%d syncs after %d writes under %s, want %d", s, w, policy, want)
			}
		})
	}
}
