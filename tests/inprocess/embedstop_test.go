package inprocess

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/go-hclog"

	"github.com/atgt/atgt/actors/target"
	"github.com/atgt/atgt/backend"
	pb "github.com/atgt/atgt/messages/atgtv1"
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

// heldBackend is an embedder's backend whose reads past block 0 wait until release
// is closed, and which records a Close that comes while such a read is in its call.
type heldBackend struct {
	backend.Backend
	release            chan struct{}
	inCall             atomic.Int32
	closedDuringCall   atomic.Bool
	closed, callsBegun atomic.Int32
}

func (b *heldBackend) ReadAt(p []byte, off int64) (int, error) {
	if off == 0 { // the embedder's TEST UNIT READY and block 0 go straight through
		return b.Backend.ReadAt(p, off)
	}
	b.inCall.Add(1)
	b.callsBegun.Add(1)
	defer b.inCall.Add(-1)
	<-b.release
	return b.Backend.ReadAt(p, off)
}

func (b *heldBackend) Close() error {
	if b.inCall.Load() > 0 {
		b.closedDuringCall.Store(true)
	}
	b.closed.Add(1)
	return b.Backend.Close()
}

// TestEmbedStopTimeoutKeepsBackendOpen: Stop whose timeout passes while an IO worker
// is still in a call of the embedder's backend returns its error at the timeout, but
// closes that backend only once the call has returned and the actors have stopped,
// never under the call (an embedder's backend may free what the call uses).
func TestEmbedStopTimeoutKeepsBackendOpen(t *testing.T) {
	sys := actor.NewActorSystem()
	defer sys.Shutdown()
	hb := &heldBackend{release: make(chan struct{})}
	cfg := baseConfig(t)
	cfg.Targets[0].Luns[0].Backend = "held"
	svc, err := target.StartWith(cfg, hclog.NewNullLogger(), target.Options{System: sys, Backends: map[string]target.BackendFactory{
		"held": func(l *pb.Lun) (backend.Backend, error) {
			hb.Backend = backend.NewMemory(int64(l.SizeBytes))
			return hb, nil
		}}})
	if err != nil {
		t.Fatal(err)
	}
	_, me := embedderReady(sys, svc)
	sys.Root.Send(svc.LUNActor(targetName, 0), &pb.ScsiTask{Itt: 1, Target: targetName, Cdb: read16(8, 1), Read: true,
		ExpectedLength: blockSize, Nexus: "embedder", ReplyTo: pb.NewPid(me)})
	for deadline := time.Now().Add(5 * time.Second); hb.callsBegun.Load() == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the READ never reached the backend")
		}
	}
	start := time.Now()
	err = svc.Stop(300 * time.Millisecond)
	if err == nil || time.Since(start) > 3*time.Second {
		t.Fatalf("Stop with a call held: %v after %v; want its timeout's error", err, time.Since(start))
	}
	if hb.closed.Load() != 0 {
		t.Fatal("the backend was closed while a worker was still in its call")
	}
	close(hb.release)
	for deadline := time.Now().Add(10 * time.Second); hb.closed.Load() == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the backend was not closed after its call returned and the actors stopped")
		}
	}
	if hb.closedDuringCall.Load() || hb.closed.Load() != 1 {
		t.Fatalf("closed during a call %v, closed %d times", hb.closedDuringCall.Load(), hb.closed.Load())
	}
}
