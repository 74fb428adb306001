package inprocess

import (
	"sync"
	"testing"
	"time"

	"github.com/atgt/atgt/backend"
)

// ioGate holds a LUN's backend calls of one kind (e.g. "read") inside the IO workers
// while it is shut, and reports each call it holds, so that a test can wait for IO to
// be in the backend instead of sleeping and hoping.
type ioGate struct {
	op   string
	held chan int64 // the offset of each call the gate holds

	mu   sync.Mutex
	shut bool
	open chan struct{} // closed when the gate opens
}

// newGate returns an open gate for backend calls of op.
func newGate(op string) *ioGate {
	return &ioGate{op: op, held: make(chan int64, 1024)}
}

// wrap is the target.Options.WrapBackend that puts the gate before lun's backend.
func (g *ioGate) wrap(lun uint64) wrapFunc {
	return func(_ string, l uint64, b backend.Backend) backend.Backend {
		if l != lun {
			return b
		}
		return backend.WithFaults(b, func(op string, off int64) (bool, error) {
			if op != g.op {
				return false, nil
			}
			g.mu.Lock()
			shut, open := g.shut, g.open
			g.mu.Unlock()
			if shut {
				g.held <- off
				<-open
			}
			return false, nil
		})
	}
}

// shut makes the gate hold calls from now on; it opens again at the test's cleanup,
// before the target stops, if the test does not open it.
func (g *ioGate) shutUntilCleanup(t *testing.T) {
	g.mu.Lock()
	g.shut, g.open = true, make(chan struct{})
	g.mu.Unlock()
	t.Cleanup(g.release)
}

// release opens the gate and lets every held call go on.
func (g *ioGate) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.shut {
		g.shut = false
		close(g.open)
	}
}

// waitHeld waits until n more calls are held at the gate.
func (g *ioGate) waitHeld(t *testing.T, n int) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for i := range n {
		select {
		case <-g.held:
		case <-timeout:
			t.Fatalf("%d of %d %s calls reached the backend within 10s", i, n, g.op)
		}
	}
}

// noneHeld checks that no further call is held at the gate now.
func (g *ioGate) noneHeld(t *testing.T) {
	t.Helper()
	select {
	case off := <-g.held:
		t.Fatalf("a %s at offset %d reached the backend", g.op, off)
	default:
	}
}
