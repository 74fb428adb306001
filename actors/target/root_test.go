package target

import (
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/go-hclog"

	"github.com/atgt/atgt/actors/logging"
	pb "github.com/atgt/atgt/messages/atgtv1"
)

// memoryConfig is one target with one memory LUN on an ephemeral loopback port.
func memoryConfig(t *testing.T) *pb.Config {
	return &pb.Config{
		Portals: []string{"127.0.0.1:0"},
		DataDir: t.TempDir(),
		Targets: []*pb.Target{{Name: "iqn.2026-11.dev.atgt:root", Luns: []*pb.Lun{{Id: 0, Backend: "memory", SizeBytes: 1 << 20}}}},
	}
}

// TestRootChildren: the root is named and spawns its children under their names.
func TestRootChildren(t *testing.T) {
	s, err := Start(memoryConfig(t), hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop(10 * time.Second)
	for _, id := range []string{"target", "target/lun-iqn.2026-11.dev.atgt:root-0", "target/dispatcher", "target/sessions", "target/portal0"} {
		if _, ok := s.system.ProcessRegistry.GetLocal(id); !ok {
			t.Errorf("no actor %s", id)
		}
	}
}

// TestStartReportsSpawnErrors: an actor the root cannot spawn fails the start with an
// error that says which, and the start closes what it opened.
func TestStartReportsSpawnErrors(t *testing.T) {
	cfg := ApplyDefaults(memoryConfig(t))
	s := &Service{log: hclog.NewNullLogger()}
	specs, err := s.openBackends(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.listen(cfg.Portals); err != nil {
		t.Fatal(err)
	}
	// Two LUNs with one name: the second spawn fails.
	err = s.spawnTree(append(specs, specs[0]), connConfig(cfg, &s.access), nil, nil)
	if err == nil || !strings.Contains(err.Error(), "spawn LUN 0 of iqn.2026-11.dev.atgt:root") || !errors.Is(err, actor.ErrNameExists) {
		t.Fatalf("spawnTree with a LUN twice: %v", err)
	}
	if err := s.Stop(10 * time.Second); err != nil {
		t.Fatalf("stop after the failed start: %v", err)
	}
}

// crashy reports each start and panics on "boom".
type crashy struct{ started chan<- struct{} }

func (c *crashy) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		c.started <- struct{}{}
	case string:
		if m == "boom" {
			panic("boom")
		}
		ctx.Respond(m)
	}
}

// TestRootStrategyRestarts: under the root's strategy a child that keeps failing is
// restarted each time (later ones after a backoff), keeps its PID and serves again.
func TestRootStrategyRestarts(t *testing.T) {
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return logging.NewSlog(hclog.NewNullLogger())
	}))
	defer sys.Shutdown()
	strategy := newRootStrategy(hclog.NewNullLogger())
	strategy.step = 20 * time.Millisecond
	started := make(chan struct{}, 8)
	childCh := make(chan *actor.PID, 1)
	parent := actor.PropsFromFunc(func(ctx actor.Context) {
		if _, ok := ctx.Message().(*actor.Started); ok {
			childCh <- ctx.Spawn(actor.PropsFromProducer(func() actor.Actor { return &crashy{started: started} }))
		}
	}, actor.WithSupervisor(strategy))
	sys.Root.Spawn(parent)
	child := <-childCh
	<-started
	for i := range 3 {
		sys.Root.Send(child, "boom")
		select {
		case <-started:
		case <-time.After(5 * time.Second):
			t.Fatalf("failure %d: the child was not restarted within 5s", i+1)
		}
	}
	r, err := sys.Root.RequestFuture(child, "ping", 5*time.Second).Result()
	if err != nil || r != "ping" {
		t.Fatalf("restarted child: %v, %v", r, err)
	}
}

// TestRootStrategyBackoff: the first failure restarts at once; each further one
// within the window waits one step longer, up to the cap.
func TestRootStrategyBackoff(t *testing.T) {
	s := &rootStrategy{log: hclog.NewNullLogger(), window: time.Minute, step: time.Hour, max: 2 * time.Hour}
	sup := &recordingSupervisor{}
	rs := actor.NewRestartStatistics()
	child := actor.NewPID("local", "target/dispatcher")
	s.HandleFailure(nil, sup, child, rs, "boom", nil)
	if sup.restarts.Load() != 1 {
		t.Fatalf("first failure: %d restarts at once, want 1", sup.restarts.Load())
	}
	s.HandleFailure(nil, sup, child, rs, "boom", nil) // restart in an hour
	if sup.restarts.Load() != 1 || sup.stops.Load() != 0 {
		t.Fatalf("second failure: %d restarts, %d stops at once; want the restart to wait", sup.restarts.Load(), sup.stops.Load())
	}
	if rs.FailureCount() != 2 {
		t.Fatalf("%d failures counted, want 2", rs.FailureCount())
	}
}
