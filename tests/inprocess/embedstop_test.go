package inprocess

import (
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/go-hclog"

	"github.com/atgt/atgt/actors/target"
	"github.com/atgt/atgt/tests/initiator"
)

// TestEmbedConcurrentStop: an embedder calls Shutdown (waiting for a logged-in
// initiator that does not log out) and, meanwhile, Stop and Shutdown again from other
// goroutines, as a signal handler and a deferred Stop would. Every call returns nil,
// none panics, and later calls do nothing; the embedder's system runs on.
func TestEmbedConcurrentStop(t *testing.T) {
	sys := actor.NewActorSystem()
	defer sys.Shutdown()
	svc, err := target.StartWith(baseConfig(t), hclog.NewNullLogger(), target.Options{System: sys})
	if err != nil {
		t.Fatal(err)
	}
	s := dial(t, svc.Addrs()[0], initiator.Options{Timeout: 5 * time.Second})
	ready(t, s, 0)
	errs := make(chan error, 5)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // waits in its grace for the session to end
		defer wg.Done()
		errs <- svc.Shutdown(time.Second)
	}()
	time.Sleep(200 * time.Millisecond)
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%2 == 0 {
				errs <- svc.Stop(5 * time.Second)
			} else {
				errs <- svc.Shutdown(time.Second)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("a concurrent stop: %v", err)
		}
	}
	if err := svc.Stop(time.Second); err != nil {
		t.Errorf("Stop after the stop: %v", err)
	}
	if err := svc.Shutdown(time.Second); err != nil {
		t.Errorf("Shutdown after the stop: %v", err)
	}
	if _, ok := sys.ProcessRegistry.GetLocal(target.DefaultName); ok || sys.IsStopped() {
		t.Errorf("after the stops: root still registered %v, embedder's system stopped %v", ok, sys.IsStopped())
	}
}
