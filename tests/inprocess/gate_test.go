package inprocess

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/atgt/atgt/backend"
)

// ioGate holds a LUN's backend calls inside the IO workers while it is shut, and
// reports each call it holds, so that a test can wait for IO to be in the backend (or
// see that none got there) instead of sleeping and hoping.
type ioGate struct {
	held chan string   // "op@offset" of each call the gate holds
	pass chan struct{} // a token lets one held call through

	mu   sync.Mutex
	ops  map[string]bool // the operations held while shut
	open chan struct{}   // closed when the gate opens
}

// gateWait bounds every wait on the gate.
const gateWait = 10 * time.Second

func newGate() *ioGate {
	return &ioGate{held: make(chan string, 1024), pass: make(chan struct{})}
}

// wrap is the target.Options.WrapBackend that puts the gate before lun's backend.
func (g *ioGate) wrap(lun uint64) wrapFunc {
	return func(_ string, l uint64, b backend.Backend) backend.Backend {
		if l != lun {
			return b
		}
		return backend.WithFaults(b, func(op string, off int64) (bool, error) {
			g.mu.Lock()
			hold, open := g.ops[op], g.open
			g.mu.Unlock()
			if hold {
				g.held <- fmt.Sprintf("%s@%d", op, off)
				select {
				case <-g.pass:
				case <-open:
				}
			}
			return false, nil
		})
	}
}

// shut makes the gate hold the given operations ("read", "write", "sync", "unmap")
// from now on, until release; the test's cleanup releases it before the target stops.
func (g *ioGate) shut(t *testing.T, ops ...string) {
	g.mu.Lock()
	g.ops, g.open = map[string]bool{}, make(chan struct{})
	for _, op := range ops {
		g.ops[op] = true
	}
	g.mu.Unlock()
	t.Cleanup(g.release)
}

// release opens the gate: every held call goes on, and no more are held.
func (g *ioGate) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.ops) > 0 {
		g.ops = nil
		close(g.open)
	}
}

// passOne lets one held call go on; the gate stays shut.
func (g *ioGate) passOne(t *testing.T) {
	t.Helper()
	select {
	case g.pass <- struct{}{}:
	case <-time.After(gateWait):
		t.Fatalf("no call held at the gate to let through")
	}
}

// waitHeld waits until n more calls are held at the gate.
func (g *ioGate) waitHeld(t *testing.T, n int) {
	t.Helper()
	timeout := time.After(gateWait)
	for i := range n {
		select {
		case <-g.held:
		case <-timeout:
			t.Fatalf("%d of %d calls reached the backend within %v", i, n, gateWait)
		}
	}
}

// noneHeld checks that no call has reached the gate since the last wait.
func (g *ioGate) noneHeld(t *testing.T, why string) {
	t.Helper()
	select {
	case c := <-g.held:
		t.Fatalf("%s reached the backend (%s): %s", c, g.opsString(), why)
	default:
	}
}

func (g *ioGate) opsString() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return fmt.Sprint("gate holding ", g.ops)
}
