package target

import (
	"bytes"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/atgt/atgt/backend"
	pb "github.com/atgt/atgt/messages/atgtv1"
)

// countingBackend is an embedder's backend: memory that counts its writes.
type countingBackend struct {
	backend.Backend
	writes *atomic.Int64
}

// WriteAt counts, then writes.
func (c countingBackend) WriteAt(p []byte, off int64, stable bool) error {
	c.writes.Add(1)
	return c.Backend.WriteAt(p, off, stable)
}

// ping is an actor of the embedder's that answers every string with itself.
func pingProps() *actor.Props {
	return actor.PropsFromFunc(func(ctx actor.Context) {
		if s, ok := ctx.Message().(string); ok {
			ctx.Respond(s)
		}
	})
}

// TestTwoTargetsOneSystem: two targets under their own names share the embedder's
// system; a third under a name in use is refused before it opens anything; stopping
// the targets leaves the system and the embedder's actors running.
func TestTwoTargetsOneSystem(t *testing.T) {
	sys := actor.NewActorSystem(WithLogger(hclog.NewNullLogger()))
	defer sys.Shutdown()
	mine, err := sys.Root.SpawnNamed(pingProps(), "mine")
	if err != nil {
		t.Fatal(err)
	}
	a, err := StartWith(memoryConfig(t), hclog.NewNullLogger(), Options{System: sys})
	if err != nil {
		t.Fatal(err)
	}
	b, err := StartWith(memoryConfig(t), hclog.NewNullLogger(), Options{System: sys, Name: "second"})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"target/sessions", "second/sessions", "target/portal0", "second/portal0"} {
		if _, ok := sys.ProcessRegistry.GetLocal(id); !ok {
			t.Errorf("no actor %s", id)
		}
	}
	dup := memoryConfig(t)
	dup.Portals = []string{b.Addrs()[0]} // would fail to listen, but the name is checked first
	if _, err := StartWith(dup, hclog.NewNullLogger(), Options{System: sys, Name: "second"}); !errors.Is(err, ErrNameTaken) ||
		!strings.Contains(err.Error(), `"second"`) {
		t.Fatalf("a third target named second: %v, want ErrNameTaken naming it", err)
	}
	if _, err := StartWith(memoryConfig(t), hclog.NewNullLogger(), Options{System: sys, Name: "mine"}); !errors.Is(err, ErrNameTaken) {
		t.Fatalf("a target named as the embedder's actor: %v, want ErrNameTaken", err)
	}
	if _, err := StartWith(memoryConfig(t), hclog.NewNullLogger(), Options{System: sys, Name: "a/b"}); err == nil ||
		!strings.Contains(err.Error(), "Options.Name") {
		t.Fatalf("a name with a slash: %v", err)
	}
	if err := a.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := b.Shutdown(time.Second); err != nil {
		t.Fatal(err)
	}
	if sys.IsStopped() {
		t.Fatal("stopping a target shut the embedder's system down")
	}
	if res, err := sys.Root.RequestFuture(mine, "still here", 5*time.Second).Result(); err != nil || res != "still here" {
		t.Fatalf("the embedder's actor after the targets stopped: %v, %v", res, err)
	}
	for _, id := range []string{"target", "second"} {
		if _, ok := sys.ProcessRegistry.GetLocal(id); ok {
			t.Errorf("%s still registered after its stop", id)
		}
	}
	// Its name is free again.
	c, err := StartWith(memoryConfig(t), hclog.NewNullLogger(), Options{System: sys})
	if err != nil {
		t.Fatalf("a target under a stopped one's name: %v", err)
	}
	c.Stop(10 * time.Second)
}

// hostActor is an embedder's actor that starts a target as its child when told to,
// and reports the Terminated its child sends.
type hostActor struct {
	cfg        *pb.Config
	started    chan<- error
	svc        **Service
	terminated chan<- string
}

type startTarget struct{}

// Receive starts the target on startTarget and reports its child's Terminated.
func (h *hostActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case startTarget:
		svc, err := StartWith(h.cfg, hclog.NewNullLogger(), Options{Parent: ctx, Name: "iscsi"})
		if err == nil {
			*h.svc = svc
		}
		h.started <- err
	case *actor.Terminated:
		h.terminated <- m.Who.Id
	}
}

// TestParentActor: a target spawned under an embedder's actor lives in its subtree,
// its supervision still tells its children apart there, and its stop is reported to
// the parent without touching the parent.
func TestParentActor(t *testing.T) {
	sys := actor.NewActorSystem(WithLogger(hclog.NewNullLogger()))
	defer sys.Shutdown()
	started, terminated := make(chan error, 1), make(chan string, 1)
	var svc *Service
	host, err := sys.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor {
		return &hostActor{cfg: memoryConfig(t), started: started, svc: &svc, terminated: terminated}
	}), "host")
	if err != nil {
		t.Fatal(err)
	}
	sys.Root.Send(host, startTarget{})
	if err := <-started; err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"host/iscsi", "host/iscsi/sessions", "host/iscsi/dispatcher", "host/iscsi/portal0"} {
		if _, ok := sys.ProcessRegistry.GetLocal(id); !ok {
			t.Errorf("no actor %s", id)
		}
	}
	if svc.root.Id != "host/iscsi" {
		t.Fatalf("root %s", svc.root.Id)
	}
	// A failed session manager is resumed (not restarted) under a parent too: the
	// strategy finds the child's kind after the root's own id.
	s := newRootStrategy(hclog.NewNullLogger())
	s.root = "host/iscsi"
	if k := s.childKind(actor.NewPID("local", "host/iscsi/sessions")); k != kindSessions {
		t.Fatalf("kind of host/iscsi/sessions: %q", k)
	}
	// The portal serves.
	c, err := net.DialTimeout("tcp", svc.Addrs()[0], 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	// The same name under the same parent is refused.
	sys.Root.Send(host, startTarget{})
	if err := <-started; !errors.Is(err, ErrNameTaken) || !strings.Contains(err.Error(), `"host/iscsi"`) {
		t.Fatalf("a second target named iscsi under host: %v", err)
	}
	if err := svc.Shutdown(time.Second); err != nil {
		t.Fatal(err)
	}
	select {
	case who := <-terminated:
		if who != "host/iscsi" {
			t.Fatalf("the parent heard of %s ending", who)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the parent got no Terminated for the target")
	}
	if _, ok := sys.ProcessRegistry.GetLocal("host"); !ok || sys.IsStopped() {
		t.Fatal("the target's stop took its parent or the system with it")
	}
}

// TestParentStopsFirst: when the embedder stops the parent, the target's actors stop
// with it, and the Service's Stop then closes its resources promptly.
func TestParentStopsFirst(t *testing.T) {
	sys := actor.NewActorSystem(WithLogger(hclog.NewNullLogger()))
	defer sys.Shutdown()
	started, terminated := make(chan error, 1), make(chan string, 1)
	var svc *Service
	host, err := sys.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor {
		return &hostActor{cfg: memoryConfig(t), started: started, svc: &svc, terminated: terminated}
	}), "host")
	if err != nil {
		t.Fatal(err)
	}
	sys.Root.Send(host, startTarget{})
	if err := <-started; err != nil {
		t.Fatal(err)
	}
	addr := svc.Addrs()[0]
	if err := sys.Root.StopFuture(host).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, ok := sys.ProcessRegistry.GetLocal("host/iscsi/sessions"); ok {
		t.Fatal("the target's actors outlived their parent")
	}
	start := time.Now()
	if err := svc.Stop(10 * time.Second); err != nil || time.Since(start) > 5*time.Second {
		t.Fatalf("stop after the parent stopped: %v after %v", err, time.Since(start))
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatal("the portal still accepts after Stop")
	}
}

// TestEmbedderBackends: a LUN names an embedder's backend, which the service opens
// with the LUN's config, serves and closes; an unknown name, a built-in name given
// again and a failing factory are refused with the field named.
func TestEmbedderBackends(t *testing.T) {
	var (
		mu     sync.Mutex
		got    []*pb.Lun
		writes atomic.Int64
	)
	counting := func(l *pb.Lun) (backend.Backend, error) {
		mu.Lock()
		got = append(got, l)
		mu.Unlock()
		return countingBackend{Backend: backend.NewMemory(int64(l.SizeBytes)), writes: &writes}, nil
	}
	cfg := memoryConfig(t)
	cfg.Targets[0].Luns = append(cfg.Targets[0].Luns, &pb.Lun{Id: 1, Backend: "counting", Path: "base.img", SizeBytes: 2 << 20})
	svc, err := StartWith(cfg, hclog.NewNullLogger(), Options{Backends: map[string]BackendFactory{"counting": counting}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Id != 1 || got[0].Path != filepath.Join(cfg.DataDir, "base.img") || got[0].BlockSize != DefaultBlockSize {
		t.Fatalf("factory called with %v, want LUN 1 with defaults and its path under dataDir", got)
	}
	if l := svc.LUNs()[1]; l.ID != 1 || l.Size != 2<<20 {
		t.Fatalf("LUN 1 served as %+v", l)
	}
	var b backend.Backend
	for _, sl := range svc.served {
		if sl.id == 1 {
			b = sl.b
		}
	}
	if err := b.WriteAt([]byte("x"), 0, false); err != nil || writes.Load() != 1 {
		t.Fatalf("the served backend is not the factory's: %v, %d writes", err, writes.Load())
	}
	if err := svc.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := b.ReadAt(make([]byte, 1), 0); !errors.Is(err, backend.ErrClosed) {
		t.Fatalf("read after Stop: %v, want the backend closed", err)
	}

	for _, tc := range []struct {
		name     string
		backends map[string]BackendFactory
		lun      *pb.Lun
		want     string
	}{
		{"unknown", nil, &pb.Lun{Id: 1, Backend: "cow", SizeBytes: 1 << 20},
			`config: targets[0].luns[1].backend: "cow" is not a known backend (file, memory, rbd, or one given in Options.Backends)`},
		{"unknown beside others", map[string]BackendFactory{"counting": counting}, &pb.Lun{Id: 1, Backend: "cow"},
			`config: targets[0].luns[1].backend: "cow" is not a known backend`},
		{"built-in given again", map[string]BackendFactory{"memory": counting}, &pb.Lun{Id: 1, Backend: "memory", SizeBytes: 1 << 20},
			`Options.Backends["memory"]: a built-in backend name cannot be given another backend`},
		{"nil factory", map[string]BackendFactory{"cow": nil}, &pb.Lun{Id: 1, Backend: "cow"},
			`Options.Backends["cow"]: the factory is nil`},
		{"factory fails", map[string]BackendFactory{"cow": func(*pb.Lun) (backend.Backend, error) { return nil, errors.New("no base") }},
			&pb.Lun{Id: 1, Backend: "cow"}, `config: targets[0].luns[1]: backend "cow": no base`},
		{"factory returns nothing", map[string]BackendFactory{"cow": func(*pb.Lun) (backend.Backend, error) { return nil, nil }},
			&pb.Lun{Id: 1, Backend: "cow"}, `config: targets[0].luns[1]: backend "cow": the factory returned no backend`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := memoryConfig(t)
			cfg.Targets[0].Luns = append(cfg.Targets[0].Luns, tc.lun)
			svc, err := StartWith(cfg, hclog.NewNullLogger(), Options{Backends: tc.backends})
			if err == nil {
				svc.Stop(10 * time.Second)
			}
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("got %v, want %s", err, tc.want)
			}
		})
	}
	// The package Validate knows only the built-in backends.
	cfg = ApplyDefaults(memoryConfig(t))
	cfg.Targets[0].Luns[0].Backend = "counting"
	if err := Validate(cfg); err == nil || !strings.Contains(err.Error(), "targets[0].luns[0].backend") {
		t.Fatalf("Validate with an embedder's backend name: %v", err)
	}
	if err := (Options{Backends: map[string]BackendFactory{"counting": counting}}).Validate(cfg); err != nil {
		t.Fatalf("Options.Validate with the backend given: %v", err)
	}
}

// TestInitiatorLunsBackendField: the backend check names an initiator's own LUN by
// its field too.
func TestInitiatorLunsBackendField(t *testing.T) {
	cfg := memoryConfig(t)
	cfg.Targets[0].InitiatorLuns = []*pb.InitiatorLuns{{Initiator: "iqn.2026-11.dev.atgt:i",
		Luns: []*pb.Lun{{Id: 0, Backend: "cow"}}}}
	err := Validate(ApplyDefaults(cfg))
	want := `targets[0].initiatorLuns[0].luns[0].backend: "cow" is not a known backend`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want %s", err, want)
	}
}

// TestProtoactorLogsToLogger: the system a service makes logs protoactor's own lines
// through the service's logger.
func TestProtoactorLogsToLogger(t *testing.T) {
	var buf syncBuffer
	log := hclog.New(&hclog.LoggerOptions{Name: "embedder", Level: hclog.Debug, Output: &buf})
	svc, err := Start(memoryConfig(t), log)
	if err != nil {
		t.Fatal(err)
	}
	svc.Stop(10 * time.Second)
	if out := buf.String(); !strings.Contains(out, "embedder.actor: actor system started") {
		t.Fatalf("protoactor's start line is not in the service's log:\n%s", out)
	}
}

// syncBuffer is a bytes.Buffer safe for the logger's concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// registryKeys lists the ids registered in sys.
func registryKeys(sys *actor.ActorSystem) []string {
	var ids []string
	for _, m := range sys.ProcessRegistry.LocalPIDs.LocalPIDs {
		ids = append(ids, m.Keys()...)
	}
	return ids
}

// TestStartsLeaveSystemAsFound: an embedder's system that starts and stops targets
// (Stop and Shutdown, one after another under one name) keeps, past one guardian
// the roots share, no registry entry and no event stream subscription of theirs.
func TestStartsLeaveSystemAsFound(t *testing.T) {
	sys := actor.NewActorSystem(WithLogger(hclog.NewNullLogger()))
	defer sys.Shutdown()
	keys, subs := len(registryKeys(sys)), sys.EventStream.Length()
	for i := range 4 {
		svc, err := StartWith(memoryConfig(t), hclog.NewNullLogger(), Options{System: sys, Name: "vm"})
		if err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			err = svc.Stop(10 * time.Second)
		} else {
			err = svc.Shutdown(time.Second)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := len(registryKeys(sys)); n > keys+1 {
		t.Errorf("after 4 starts and stops the system registers %d ids, %d before: %v", n, keys, registryKeys(sys))
	}
	if n := sys.EventStream.Length(); n != subs {
		t.Errorf("event stream subscriptions: %d, %d before", n, subs)
	}
}

// restartingHost is an embedder's actor that starts its target as it starts (again
// after a restart, over the same portal and LUN file) and fails on a string.
type restartingHost struct {
	cfg     *pb.Config
	started chan<- *Service
	failed  chan<- error
}

// Receive starts the target on Started and panics on a string.
func (h *restartingHost) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		svc, err := StartWith(h.cfg, hclog.NewNullLogger(), Options{Parent: ctx, Name: "iscsi"})
		if err != nil {
			h.failed <- err
			return
		}
		h.started <- svc
	case string:
		panic(m)
	}
}

// TestParentRestarts: the embedder's actor fails and its supervisor restarts it,
// which stops the target under it; the restarted actor starts its target again over
// the same portal and file LUN, which the stop has freed. The first Service's Stop
// and Shutdown then do nothing more.
func TestParentRestarts(t *testing.T) {
	sys := actor.NewActorSystem(WithLogger(hclog.NewNullLogger()))
	defer sys.Shutdown()
	cfg := memoryConfig(t)
	cfg.Targets[0].Luns = append(cfg.Targets[0].Luns, &pb.Lun{Id: 1, Path: filepath.Join(t.TempDir(), "vm.img"), SizeBytes: 1 << 20})
	ln, err := net.Listen("tcp", "127.0.0.1:0") // a fixed port, as an embedder's config has
	if err != nil {
		t.Fatal(err)
	}
	cfg.Portals = []string{ln.Addr().String()}
	ln.Close()
	started, failed := make(chan *Service, 2), make(chan error, 2)
	host, err := sys.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor {
		return &restartingHost{cfg: cfg, started: started, failed: failed}
	}), "host")
	if err != nil {
		t.Fatal(err)
	}
	next := func() *Service {
		t.Helper()
		select {
		case svc := <-started:
			return svc
		case err := <-failed:
			t.Fatalf("the host's start of its target: %v", err)
		case <-time.After(10 * time.Second):
			t.Fatal("the host did not start its target")
		}
		return nil
	}
	first := next()
	sys.Root.Send(host, "an embedder's bug")
	second := next()
	if second.Addrs()[0] != cfg.Portals[0] || second.LUNs()[1].Path != cfg.Targets[0].Luns[1].Path {
		t.Fatalf("the restarted target serves %v, %+v", second.Addrs(), second.LUNs())
	}
	c, err := net.DialTimeout("tcp", cfg.Portals[0], 5*time.Second)
	if err != nil {
		t.Fatalf("the restarted target's portal: %v", err)
	}
	c.Close()
	if err := first.Shutdown(time.Second); err != nil {
		t.Errorf("the first target's Shutdown after its parent restarted: %v", err)
	}
	if err := first.Stop(time.Second); err != nil {
		t.Errorf("the first target's Stop after its parent restarted: %v", err)
	}
	if _, ok := sys.ProcessRegistry.GetLocal("host/iscsi/sessions"); !ok {
		t.Error("the first target's stop stopped the second's actors")
	}
	if err := second.Shutdown(time.Second); err != nil {
		t.Fatal(err)
	}
}

// TestTwoTargetsOneMetricsRegistry: two targets' collectors share the metric names,
// so an embedder's one Prometheus registry takes the second only under a label of its
// own (the README's way: prometheus.WrapRegistererWith); then one scrape has both.
func TestTwoTargetsOneMetricsRegistry(t *testing.T) {
	sys := actor.NewActorSystem(WithLogger(hclog.NewNullLogger()))
	defer sys.Shutdown()
	reg := prometheus.NewRegistry()
	for _, name := range []string{"vm1", "vm2"} {
		svc, err := StartWith(memoryConfig(t), hclog.NewNullLogger(), Options{System: sys, Name: name})
		if err != nil {
			t.Fatal(err)
		}
		defer svc.Stop(10 * time.Second)
		if name == "vm2" {
			if err := reg.Register(svc.Metrics()); err == nil {
				t.Fatal("a second target's collector registered unlabelled: the README's advice is needless")
			}
		}
		if err := prometheus.WrapRegistererWith(prometheus.Labels{"service": name}, reg).Register(svc.Metrics()); err != nil {
			t.Fatalf("%s's collector under its label: %v", name, err)
		}
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("a scrape of both: %v", err)
	}
	seen := map[string]bool{}
	for _, f := range families {
		if f.GetName() != "atgt_logins_total" {
			continue
		}
		for _, m := range f.Metric {
			for _, l := range m.Label {
				if l.GetName() == "service" {
					seen[l.GetValue()] = true
				}
			}
		}
	}
	if !seen["vm1"] || !seen["vm2"] {
		t.Fatalf("atgt_logins_total by service: %v, want vm1 and vm2", seen)
	}
}

// TestStartWithMisuse: a nil config, and a Parent (here a root context) of another
// actor system than System, are refused naming what is wrong, without a panic and
// without touching either system.
func TestStartWithMisuse(t *testing.T) {
	sys, other := actor.NewActorSystem(WithLogger(hclog.NewNullLogger())), actor.NewActorSystem(WithLogger(hclog.NewNullLogger()))
	defer sys.Shutdown()
	defer other.Shutdown()
	if _, err := StartWith(nil, hclog.NewNullLogger(), Options{System: sys}); err == nil || !strings.HasPrefix(err.Error(), "config: ") {
		t.Errorf("a nil config: %v", err)
	}
	svc, err := StartWith(memoryConfig(t), hclog.NewNullLogger(), Options{System: sys, Parent: other.Root})
	if err == nil {
		svc.Stop(10 * time.Second)
	}
	if err == nil || !strings.Contains(err.Error(), "Options.Parent") {
		t.Errorf("a Parent of another system than System: %v", err)
	}
	for _, s := range []*actor.ActorSystem{sys, other} {
		if n := len(registryKeys(s)); n != 2 {
			t.Errorf("a refused start left %v in a system", registryKeys(s))
		}
	}
}
