package target

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/go-hclog"

	"github.com/atgt/atgt/backend"
)

// syncCounting counts a backend's Syncs.
type syncCounting struct {
	backend.Backend
	syncs *atomic.Int32
}

// Sync counts, then syncs.
func (b syncCounting) Sync() error {
	b.syncs.Add(1)
	return b.Backend.Sync()
}

// flushingHost is an embedder's actor that starts its target as it starts and shuts
// it down (flushing it) as protoactor restarts it; a string makes it fail.
type flushingHost struct {
	t     *testing.T
	syncs *atomic.Int32
	svc   *Service
	up    chan<- error
	down  chan<- error
}

// Receive starts the target, shuts it down on Restarting, and panics on a string.
func (h *flushingHost) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		svc, err := StartWith(memoryConfig(h.t), hclog.NewNullLogger(), Options{Parent: ctx, Name: "iscsi",
			WrapBackend: func(_ string, _ uint64, b backend.Backend) backend.Backend { return syncCounting{b, h.syncs} }})
		h.svc = svc
		h.up <- err
	case *actor.Restarting:
		h.down <- h.svc.Shutdown(time.Second)
	case string:
		panic(m)
	}
}

// TestParentShutsDownInRestarting: the README's way to flush a parent's target, a
// Shutdown as the parent gets Restarting, returns (it does not wait on the parent),
// syncs the LUN, and the restarted parent starts its target again.
func TestParentShutsDownInRestarting(t *testing.T) {
	sys := actor.NewActorSystem(WithLogger(hclog.NewNullLogger()))
	defer sys.Shutdown()
	var syncs atomic.Int32
	up, down := make(chan error, 2), make(chan error, 1)
	host, err := sys.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor {
		return &flushingHost{t: t, syncs: &syncs, up: up, down: down}
	}), "host")
	if err != nil {
		t.Fatal(err)
	}
	wait := func(ch <-chan error, what string) {
		t.Helper()
		select {
		case err := <-ch:
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: no outcome in 10 s", what)
		}
	}
	wait(up, "the first start")
	sys.Root.Send(host, "an embedder's bug")
	wait(down, "Shutdown in Restarting")
	if syncs.Load() != 1 {
		t.Errorf("Shutdown in Restarting synced the LUN %d times, want 1", syncs.Load())
	}
	wait(up, "the start after the restart")
	if _, ok := sys.ProcessRegistry.GetLocal("host/iscsi/sessions"); !ok {
		t.Fatal("the restarted parent's target is not running")
	}
	sys.Root.StopFuture(host).Wait()
}
