package slab

import "testing"

func TestSlabHandsOutDistinctZeroedValues(t *testing.T) {
	var s Slab[[4]int]
	s.Chunk = 3
	seen := map[*[4]int]bool{}
	for i := range 10 {
		p := s.New()
		if *p != ([4]int{}) {
			t.Fatalf("value %d not zeroed: %v", i, *p)
		}
		if seen[p] {
			t.Fatalf("value %d handed out twice", i)
		}
		seen[p] = true
		p[0] = i + 1 // a later New must not see this
	}
}

func TestSlabAllocatesOncePerChunk(t *testing.T) {
	var s Slab[struct{ a, b int64 }]
	s.New() // the first chunk
	allocs := testing.AllocsPerRun(1000, func() {
		for range DefaultChunk {
			s.New()
		}
	})
	if allocs != 1 {
		t.Fatalf("%v allocations per %d values, want 1", allocs, DefaultChunk)
	}
}
