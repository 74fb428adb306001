package inprocess

import (
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/atgt/atgt/actors/target"
	"github.com/atgt/atgt/actors/trace"
	"github.com/atgt/atgt/backend"
	"github.com/atgt/atgt/tests/initiator"
)

// eioBackend fails every read with EIO (a real backend error, not an injected fault).
type eioBackend struct{ backend.Backend }

func (eioBackend) ReadAt(p []byte, off int64) (int, error) { return 0, syscall.EIO }

// TestBackendEndSaysRealError: a traced READ whose backend call fails with EIO ends
// CHECK CONDITION MEDIUM ERROR, and its backend.end hop names the error.
func TestBackendEndSaysRealError(t *testing.T) {
	svc := startWith(t, baseConfig(t), target.Options{TraceLevel: "light",
		WrapBackend: func(_ string, _ uint64, b backend.Backend) backend.Backend { return eioBackend{b} }})
	s := dial(t, svc.Addrs()[0], initiator.Options{})
	ready(t, s, 0)
	_, err := s.Read(0, 8, 1, blockSize)
	var se *initiator.SCSIError
	if !errors.As(err, &se) {
		t.Fatalf("READ: %v, want a CHECK CONDITION", err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		for _, tl := range svc.Tracer().Recent(10, trace.Any) {
			if tl.ID.Opcode != 0x88 {
				continue
			}
			for _, e := range tl.Events {
				if e.Hop == trace.HopBackendEnd {
					t.Logf("status 0x%02x sense %x; backend.end result %q", tl.Status, tl.Sense, e.Result)
					if !strings.Contains(e.Result, "input/output error") {
						t.Errorf("backend.end of a call that failed with EIO (answered sense key %x) says %q", se.Key(), e.Result)
					}
					return
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("no traced READ(16) with a backend.end hop")
}
