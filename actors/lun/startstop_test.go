package lun

import (
	"testing"

	"github.com/atgt/atgt/backend"
	"github.com/atgt/atgt/messages/scsi"
)

// TestStartStopUnitSyncs: START STOP UNIT stopping without NO_FLUSH reaches the
// backend's Sync before GOOD (SBC-4 5.25: the cached data is written to the
// medium first); with NO_FLUSH it does not.
func TestStartStopUnitSyncs(t *testing.T) {
	var c backend.Counters
	h := newLUNHarness(t, backend.WithCounters(backend.NewMemory(1<<20), &c))
	defer h.sys.Shutdown()
	h.send(h.task(1, []byte{scsi.OpStartStopUnit, 0, 0, 0, 0x04, 0}, nil)) // NO_FLUSH
	expectGood(t, "stop with NO_FLUSH", h.wait(1)[1])
	if n := c.Syncs.Load(); n != 0 {
		t.Fatalf("stop with NO_FLUSH: %d syncs, want 0", n)
	}
	h.send(h.task(2, []byte{scsi.OpStartStopUnit, 0, 0, 0, 0, 0}, nil))
	expectGood(t, "stop", h.wait(1)[2])
	if n := c.Syncs.Load(); n != 1 {
		t.Fatalf("stop: %d syncs before GOOD, want 1", n)
	}
}
