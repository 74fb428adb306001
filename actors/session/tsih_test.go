package session

import "testing"

// TestTSIHNeverInUse: TSIHs wrap past 65,535 without handing out 0 or one a live
// session holds; with all in use there is none; a freed one is taken again.
func TestTSIHNeverInUse(t *testing.T) {
	var ts tsihs
	live := map[uint16]bool{}
	for range 3 {
		v, ok := ts.take()
		if !ok || v == 0 {
			t.Fatalf("take: %d, %v", v, ok)
		}
		live[v] = true // 1, 2, 3 stay in use
	}
	for i := 0; i < 1<<16-4; i++ { // churn: every other one ends at once
		v, ok := ts.take()
		if !ok || v == 0 || live[v] {
			t.Fatalf("take %d: %d, %v; in use: %v", i, v, ok, live)
		}
		ts.free(v)
	}
	// The counter is at 65,535: the next ones wrap past 0 and the live 1, 2, 3.
	if v, ok := ts.take(); !ok || v != 4 {
		t.Fatalf("after the wrap: %d, %v; want 4", v, ok)
	}
	for i := 0; i < 1<<16-5; i++ {
		if _, ok := ts.take(); !ok {
			t.Fatalf("take %d of the rest failed", i)
		}
	}
	if v, ok := ts.take(); ok {
		t.Fatalf("with every TSIH in use take gave %d", v)
	}
	ts.free(2)
	if v, ok := ts.take(); !ok || v != 2 {
		t.Fatalf("after freeing 2: %d, %v", v, ok)
	}
}
