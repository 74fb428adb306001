package bufpool

import "testing"

func TestGetPut(t *testing.T) {
	for _, n := range []int{0, 1, 512, 4096, 4097, 131072, 1 << 20, 16 << 20} {
		b := Get(n)
		if len(b) != n || cap(b) < n {
			t.Fatalf("Get(%d): len %d cap %d", n, len(b), cap(b))
		}
		if cap(b)&(cap(b)-1) != 0 {
			t.Fatalf("Get(%d): capacity %d is not a size class", n, cap(b))
		}
		Put(b)
	}
	big := Get(17 << 20)
	if len(big) != 17<<20 {
		t.Fatal("oversized Get")
	}
	Put(big)                  // ignored
	Put(make([]byte, 0, 100)) // ignored: not a class
}

func TestReuse(t *testing.T) {
	b := Get(100 << 10)
	b[0] = 42
	Put(b)
	// sync.Pool may drop items at any GC, so reuse is likely, not certain; what must
	// hold is the length contract.
	c := Get(120 << 10)
	if len(c) != 120<<10 || cap(c) != 128<<10 {
		t.Fatalf("len %d cap %d", len(c), cap(c))
	}
}

func BenchmarkGetPut128K(b *testing.B) {
	b.ReportAllocs()
	for range b.N {
		Put(Get(128 << 10))
	}
}

// TestSteadyStateAllocatesNothing: a Get/Put cycle reuses both the buffer and the
// header box sync.Pool needs.
func TestSteadyStateAllocatesNothing(t *testing.T) {
	Put(Get(4096))
	allocs := testing.AllocsPerRun(1000, func() { Put(Get(4096)) })
	// A GC during the run empties the pools; allow for the odd refill.
	if allocs > 0.1 {
		t.Fatalf("%.2f allocations per Get/Put, want 0", allocs)
	}
}
