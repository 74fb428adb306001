package tests

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// liveMem is what a Go process holds right after a garbage collection: its live
// heap and its goroutine stacks. Unlike resident memory it does not depend on when
// the collector last ran or on how busy the machine is, so a bound on it can be
// tight.
type liveMem struct {
	heap, stacks int64 // bytes
}

// KiB is the sum in KiB.
func (m liveMem) KiB() float64 { return float64(m.heap+m.stacks) / 1024 }

// liveMemOf forces a collection in the process serving pprof at addr
// (/debug/pprof/heap?gc=1) and reads its runtime.MemStats from the profile's
// trailer: HeapAlloc (live objects after the collection) and StackInuse.
func liveMemOf(t *testing.T, addr string) liveMem {
	t.Helper()
	body := pprofGet(t, addr, "heap?debug=1&gc=1")
	var m liveMem
	var okHeap, okStack bool
	for _, l := range strings.Split(string(body), "\n") {
		var inuse, sys int64
		switch {
		case strings.HasPrefix(l, "# HeapAlloc = "):
			_, err := fmt.Sscanf(l, "# HeapAlloc = %d", &m.heap)
			okHeap = err == nil
		case strings.HasPrefix(l, "# Stack = "):
			_, err := fmt.Sscanf(l, "# Stack = %d / %d", &inuse, &sys)
			m.stacks, okStack = inuse, err == nil
		}
	}
	if !okHeap || !okStack {
		t.Fatalf("pprof heap profile without HeapAlloc or Stack: %.200q", body)
	}
	return m
}

// pprofGet reads atgtd's pprof endpoint /debug/pprof/<what> at addr.
func pprofGet(t *testing.T, addr, what string) []byte {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/debug/pprof/" + what)
	if err != nil {
		t.Fatalf("pprof: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("pprof: %v", err)
	}
	return body
}
