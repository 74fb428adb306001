package lun

import (
	"testing"
	"time"

	"github.com/atgt/atgt/actors/scsidev"
	"github.com/atgt/atgt/backend"
)

// TestDoorClosesAfterRebuild: a LUN actor that failed and rebuilt its device
// model (Config.Rebuild) still removes its embedders' door when it stops. The
// door told its own LUN from a newer one of the same name by the device model
// it was opened with, which the rebuild replaced, so the door of a removed LUN
// stayed registered: an embedder's tasks went to a stopped actor instead of
// being refused as for a LUN that does not exist.
func TestDoorClosesAfterRebuild(t *testing.T) {
	for _, rebuild := range []bool{false, true} {
		t.Run(map[bool]string{false: "kept device model", true: "rebuilt device model"}[rebuild], func(t *testing.T) {
			opts, failNext := rebuilding(scsidev.Config{BlockSize: 512, Blocks: 2048, WriteCache: true, TargetName: "t"}, rebuild)
			var cfg Config
			h := newLUNHarness(t, backend.NewMemory(1<<20), opts, func(c *Config) { cfg = *c })
			defer h.sys.Shutdown()
			door := OpenDoor(h.sys, h.lun, cfg)
			failActor(t, h, failNext, 1)
			if err := h.sys.Root.StopFuture(h.lun).Wait(); err != nil {
				t.Fatalf("stopping the LUN actor: %v", err)
			}
			// closeDoor runs at Stopped, which may come just after the future.
			deadline := time.Now().Add(5 * time.Second)
			for {
				if _, ok := h.sys.ProcessRegistry.GetLocal(door.Id); !ok {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the door of a stopped LUN actor is still registered 5 s after it stopped")
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}
