package target

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/eventstream"
	"github.com/hashicorp/go-hclog"
	"google.golang.org/protobuf/proto"

	"github.com/atgt/atgt/actors/cmdphase"
	"github.com/atgt/atgt/actors/conn"
	"github.com/atgt/atgt/actors/dispatcher"
	"github.com/atgt/atgt/actors/limit"
	"github.com/atgt/atgt/actors/login"
	"github.com/atgt/atgt/actors/metrics"
	"github.com/atgt/atgt/actors/scsidev"
	"github.com/atgt/atgt/actors/trace"
	"github.com/atgt/atgt/backend"
	"github.com/atgt/atgt/backend/faults"
	pb "github.com/atgt/atgt/messages/atgtv1"
)

// portalGroupTag is the one target portal group every portal belongs to.
const portalGroupTag = 1

// maxTaskBytes caps the write data buffered for one command: the LUNs' maximum
// transfer, so that a command they would refuse is refused before its data comes.
// maxBufferedBytes caps the write data one connection holds at once (128 commands
// of 1 MiB); max_write_buffer_mib all connections together.
const (
	maxTaskBytes     = scsidev.MaxTransferBytes
	maxBufferedBytes = 128 << 20
)

// LUNInfo describes a served logical unit, for the daemon's start-up report and for
// reaching its injected faults.
type LUNInfo struct {
	Target string
	// Initiator is the initiator whose own LUN this is (initiator_luns); "" for a
	// LUN every other initiator of the target sees.
	Initiator string
	ID        uint64
	Path      string
	Size      int64
	// Faults holds the LUN's faults (configured, or set at runtime), to read their
	// counts or change them.
	Faults *faults.Injector
}

// Service is a running target: its actor system, listeners and backends.
type Service struct {
	system *actor.ActorSystem
	root   *actor.PID
	// routes maps each logical unit to its LUN actor; the root fills it.
	routes   *dispatcher.Table
	portals  []net.Listener
	backends []backend.Backend
	luns     []LUNInfo
	// served are the backends the LUNs use (wrapped, if Options said so), which a
	// clean stop flushes.
	served []servedLUN
	// grace is how long Shutdown waits for initiators to log out.
	grace time.Duration
	// faultsReleased: the injected faults were cleared and reported (at stop).
	faultsReleased bool
	// metrics are the service's counters, served by Metrics (metrics.go).
	metrics *metrics.Registry
	// tracer traces tasks (trace.go); flightTasks is each LUN's flight recorder size.
	tracer      *trace.Tracer
	flightTasks int
	log         hclog.Logger
	// access is who may log in to what, rebuilt from the config at each change.
	access accessHolder
	// sets are the sets of LUNs by route (a target's shared LUNs, an initiator's own).
	sets map[string]*targetLUNs
	// servedStores are the stores the data directory's record says were served
	// (stores.go); created the files created by the start or change under way, to
	// remove if it fails.
	servedStores map[string]bool
	storesDir    string
	created      []string
	// storesUnsaved: a change's config save failed (or is under way), so the record
	// keeps the stores of LUNs the file may still list (recordServedStores); under
	// storesMu.
	storesUnsaved bool
	// legacyShared are the state file bases of the old naming (legacyStateBase) that
	// two LUN sets of the served config share: their files are never adopted.
	legacyShared map[string]bool
	// aside are the state files of removed LUNs waiting for a saved config that
	// no longer lists them, to be set aside (stateaside.go); under the change lock.
	aside []asideEntry
	// removing are the LUNs the change under way removes, while it opens the LUNs
	// it adds (openLUN's error names a store one of them holds).
	removing []dispatcher.Key
	// live are the served LUNs by route and id, for the admin API; missing those
	// whose store is missing (missing.go).
	live    map[dispatcher.Key]*liveLUN
	missing map[dispatcher.Key]*missingLUN
	// admin is the admin API's state: the config as served, where it is saved
	// (admin.go).
	admin adminState
	// opts are the options the service was started with (embedding, backends).
	opts Options
	// ownSystem: the service made system itself, so it shuts it down at stop;
	// an embedder's (Options.System, Options.Parent) is never shut down.
	ownSystem bool
	// undelivered is the subscription of conn.Undelivered to the system's dead
	// letters, ended at stop.
	undelivered *eventstream.Subscription
	// stopMu serialises Stop and Shutdown: an embedder may call them from several
	// goroutines (a signal handler, a deferred Stop), and each tears down the
	// system, root and lists that the other reads.
	stopMu sync.Mutex
	// stopped: Stop or Shutdown has run (under stopMu).
	stopped bool
	// flushTimeout bounds Shutdown's final flush (FinalFlushTimeout; shorter in tests).
	flushTimeout time.Duration
	// rootGone: the root stopped without Stop or Shutdown (rootStopped). Its name
	// may since be another root's, which nothing of this service may then address.
	rootGone atomic.Bool
}

// Options adjusts a service for embedding and tests.
type Options struct {
	// WrapBackend, when set, wraps each LUN's opened backend (for fault injection,
	// counters or crash simulation in tests, or an embedder's own instrumentation).
	// target is the LUN's route: the target's name, or for an initiator's own LUN
	// dispatcher.RouteName(target, initiator).
	WrapBackend func(target string, lun uint64, b backend.Backend) backend.Backend
	// ConfigPath is the config file that the admin API's changes are written to ("":
	// changes are not saved and last until the stop).
	ConfigPath string
	// Override, when set, changes each config before it is served (the daemon's
	// -portal and -data flags): at start and at every admin change, but never in what
	// is saved, so the config file keeps what its author wrote.
	Override func(*pb.Config)
	// ConfigVersions is how many earlier versions of the config file a change keeps
	// beside it (ConfigPath.1 the newest). Default 5.
	ConfigVersions int
	// WrapRoute, when set, wraps the lookup sessions use to send a task straight to
	// its LUN actor, so that a test can see the lookups the sessions make (by route,
	// as WrapBackend).
	WrapRoute func(route func(target string, lun uint64) *actor.PID) func(target string, lun uint64) *actor.PID

	// Embedding (embed.go). System, when set, is the embedder's actor system the
	// target's actors run in; nil makes one, which Stop and Shutdown end. An
	// embedder's system is never shut down by the service: only the target's own
	// subtree stops and its listeners and backends close.
	System *actor.ActorSystem
	// Parent, when set, spawns the target's root actor as a child of one of the
	// embedder's actors (its actor.Context; System may then be nil), so that the
	// target stops with it. See embed.go for what that asks of the parent.
	Parent actor.SpawnerContext
	// Name is the root actor's name (default DefaultName, "target"), which must be
	// unique among the system's top-level actors (or the Parent's children): give
	// each of two targets in one actor system its own.
	Name string
	// Backends are the embedder's own LUN backends, by the name a LUN's "backend"
	// field gives (besides the built-in "file" and "memory").
	Backends map[string]BackendFactory
	// SharedStores makes every file and block device LUN take a shared lock
	// (backend.Options.Shared), as gateway nodes (port_groups) always do, so that
	// several processes may serve one file on purpose: atgtd's ATGT_SHARED_STORES=1,
	// for benchmarks that run several atgtd builds on one file.
	SharedStores bool
	// TraceLevel, when set ("off", "light", "full"), replaces the config's
	// trace_level at start (atgtd's -trace flag).
	TraceLevel string
	// TraceSinks get every traced task's timeline when it finishes, from a bounded
	// queue drained by one goroutine (an OpenTelemetry exporter; trace.go). The
	// service never closes a sink; once Stop or Shutdown has returned it calls none
	// again (a call in progress is waited for, at most 5 s), so the embedder may then
	// shut its sinks down.
	TraceSinks []trace.Sink
}

// Start validates cfg (after defaults), opens every backend and listener, and spawns
// the actor tree. Any failure is returned before anything is served.
func Start(in *pb.Config, log hclog.Logger) (*Service, error) {
	return StartWith(in, log, Options{})
}

// stopAfterFailedStart bounds the teardown of a start that failed.
const stopAfterFailedStart = 10 * time.Second

// StartWith is Start with options. Each step returns its error, and a failed start
// closes what the steps before it opened.
func StartWith(in *pb.Config, log hclog.Logger, opts Options) (_ *Service, err error) {
	if in == nil {
		return nil, errors.New("config: none given (a nil *atgtv1.Config)")
	}
	cfg := ApplyDefaults(overridden(in, opts.Override))
	verr := opts.Validate(cfg)
	if field, _ := badExposure(cfg); verr == nil || field != "" {
		warnExposures(cfg, log) // refused or allowed, an unauthenticated exposure is logged
	}
	if verr != nil {
		return nil, verr
	}
	if err := loadSecrets(cfg, configDir(opts.ConfigPath)); err != nil {
		return nil, err
	}
	warnSharedSecrets(cfg, log)
	s := &Service{log: log, grace: time.Duration(cfg.ShutdownGraceSeconds) * time.Second, metrics: metrics.NewRegistry(), opts: opts,
		flushTimeout: FinalFlushTimeout}
	if err := s.useSystem(); err != nil {
		return nil, err
	}
	s.startTracer(cfg)
	s.admin = adminState{raw: proto.Clone(in).(*pb.Config), cfg: cfg, path: opts.ConfigPath, lock: make(chan struct{}, 1),
		versions: opts.ConfigVersions, started: time.Now(), wrap: opts.WrapBackend, override: opts.Override}
	s.admin.ctx, s.admin.cancel = context.WithCancel(context.Background())
	if s.admin.versions <= 0 {
		s.admin.versions = defaultConfigVersions
	}
	defer func() {
		if err != nil {
			s.Stop(stopAfterFailedStart)
			s.removeCreated(s.created)
			s.created = nil
		}
	}()
	specs, err := s.openBackends(cfg, opts.WrapBackend)
	if err != nil {
		return nil, err
	}
	if err := s.listen(cfg.Portals); err != nil {
		return nil, err
	}
	guard := limit.New(limit.Config{
		MaxPerPortal:     int(cfg.MaxConnections),
		MaxPerAddress:    int(cfg.MaxConnectionsPerAddress),
		MaxLoginFailures: int(cfg.MaxLoginFailures),
		FailureWindow:    time.Duration(cfg.LoginFailureWindowSeconds) * time.Second,
	}, log.Named("limit"))
	s.access.set(buildAccess(cfg))
	cc := connConfig(cfg, &s.access)
	cc.LoginFailed = guard.LoginFailed
	cc.MayWarn = guard.MayWarn
	cc.Metrics = s.metrics
	s.metrics.SetDataIn(cc.ReadBudget)
	cc.Tracer = s.tracer
	if err := s.spawnTree(specs, cc, guard, opts.WrapRoute); err != nil {
		return nil, err
	}
	s.created = nil
	s.recordServedStores(cfg)
	return s, nil
}

// configDir is what a relative secret_file is relative to: the config file's
// directory, or the working directory for a service without a config file.
func configDir(configPath string) string {
	if configPath == "" {
		return ""
	}
	return filepath.Dir(configPath)
}

// overridden is cfg with override applied (a copy; cfg itself when there is none).
func overridden(cfg *pb.Config, override func(*pb.Config)) *pb.Config {
	if override == nil {
		return cfg
	}
	c := proto.Clone(cfg).(*pb.Config)
	override(c)
	return c
}

// listen opens every portal's listening socket, before any actor runs, so that a
// busy or bad address fails the start.
func (s *Service) listen(portals []string) error {
	for i, addr := range portals {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("config: portals[%d]: %w", i, err)
		}
		s.portals = append(s.portals, ln)
		// loopbackPortal took "localhost" for loopback: hold it to that.
		if ta, ok := ln.Addr().(*net.TCPAddr); loopbackPortal(addr) && (!ok || !ta.IP.IsLoopback()) {
			return fmt.Errorf("config: portals[%d]: %s bound %s, not a loopback address", i, addr, ln.Addr())
		}
	}
	return nil
}

// connConfig is the template of every connection's config: what login offers and
// allows, and the limits of the full feature phase. Who may log in to what is read from
// acc at each login, so that targets and access lists can change at runtime.
func connConfig(cfg *pb.Config, acc *accessHolder) conn.Config {
	n := cfg.Negotiation
	limits := login.DefaultLimits()
	limits.MaxRecvDataSegmentLength = n.MaxRecvDataSegmentLength
	limits.MaxBurstLength = n.MaxBurstLength
	limits.FirstBurstLength = n.FirstBurstLength
	limits.MaxOutstandingR2T = n.MaxOutstandingR2T
	limits.ImmediateData = n.GetImmediateData()
	limits.InitialR2T = n.GetInitialR2T()
	limits.HeaderDigest = n.HeaderDigest
	limits.DataDigest = n.DataDigest
	return conn.Config{
		Login: login.Config{
			Lookup: acc.lookup,
			Limits: limits,
			Auth:   acc,
		},
		Discovery:        acc.discovery,
		MayResetTarget:   acc.mayResetTarget,
		QueueDepth:       cfg.QueueDepth,
		NopInterval:      time.Duration(cfg.NopIntervalSeconds) * time.Second,
		NopTimeout:       time.Duration(cfg.NopTimeoutSeconds) * time.Second,
		LoginTimeout:     time.Duration(cfg.LoginTimeoutSeconds) * time.Second,
		WriteTimeout:     time.Duration(cfg.WriteTimeoutSeconds) * time.Second,
		SpinWait:         time.Duration(cfg.GetReaderSpinMicroseconds()) * time.Microsecond,
		MaxTaskBytes:     maxTaskBytes,
		MaxBufferedBytes: maxBufferedBytes,
		WriteBudget:      cmdphase.NewWriteBudget(int64(cfg.MaxWriteBufferMib) << 20),
		ReadBudget:       conn.NewReadBudget(int64(cfg.MaxReadBufferMib) << 20),
		DataOutTimeout:   time.Duration(cfg.DataOutTimeoutSeconds) * time.Second,
	}
}

// spawnTree starts the actor system and the root actor, and waits until the root has
// spawned its children (or failed to).
func (s *Service) spawnTree(specs []lunSpec, connCfg conn.Config, guard *limit.Guard, wrapRoute func(func(string, uint64) *actor.PID) func(string, uint64) *actor.PID) error {
	if s.system == nil {
		if err := s.useSystem(); err != nil {
			return err
		}
	}
	if s.undelivered == nil {
		s.undelivered = s.system.EventStream.Subscribe(conn.Undelivered)
	}
	started := make(chan error, 1)
	s.routes = dispatcher.NewTable(nil)
	root, err := s.spawnRoot(rootProps(rootConfig{
		luns: specs, connCfg: connCfg, listeners: s.portals, guard: guard, wrapRoute: wrapRoute, routes: s.routes,
		log: s.log, started: started, stopped: s.rootStopped,
	}))
	if err != nil {
		return fmt.Errorf("start actor tree: %w", err)
	}
	s.edit(func() { s.root = root })
	return <-started
}

// Addrs returns the listening addresses, as bound (an ephemeral port resolved).
func (s *Service) Addrs() []string {
	var out []string
	for _, l := range s.portals {
		out = append(out, l.Addr().String())
	}
	return out
}

// LUNs lists the served logical units: a copy, taken under the admin lock that
// AddLun and RemoveLun change the list under.
func (s *Service) LUNs() []LUNInfo {
	s.admin.mu.RLock()
	defer s.admin.mu.RUnlock()
	return slices.Clone(s.luns)
}

// Stop ends every session and closes listeners and backends. Write-back data stays in
// the page cache, as on a disk whose cache was not flushed; the backends are closed
// (not synced) once every IO worker has stopped: when timeout passes first, Stop
// returns an error and they are closed later, as the workers stop, never under a
// call in progress. Injected faults are cleared first, so
// that a hang cannot hold a worker, and the stop, for ever. Stop and Shutdown may be
// called more than once and from several goroutines: a call waits for one in
// progress, and a call after the service stopped does nothing and returns nil.
func (s *Service) Stop(timeout time.Duration) error {
	s.stopMu.Lock()
	defer s.stopMu.Unlock()
	if s.stopped {
		return nil
	}
	s.stopped = true
	s.stopChanges()
	s.releaseFaults()
	running, err := s.stopTree(timeout)
	s.edit(func() {
		s.closeResources(running)
		s.shutdownSystem()
	})
	s.tracer.Close()
	return err
}

// shutdownSystem ends the actor system, once, if the service made it.
func (s *Service) shutdownSystem() {
	if s.system != nil && s.undelivered != nil {
		s.system.EventStream.Unsubscribe(s.undelivered)
		s.undelivered = nil
	}
	if s.system != nil && s.ownSystem {
		s.system.Shutdown()
	}
	s.system = nil
}

// stopTree stops the actor tree and waits for it, at most timeout; a stopped tree
// stays stopped. When the tree has not stopped in time, running is closed once it
// has: an IO worker may still be in a backend call until then.
func (s *Service) stopTree(timeout time.Duration) (running <-chan struct{}, err error) {
	var root *actor.PID
	s.edit(func() { root, s.root = s.root, nil })
	if root == nil || s.system == nil || s.rootGone.Load() {
		return nil, nil
	}
	done, stopped := make(chan error, 1), make(chan struct{})
	go func() {
		done <- s.system.Root.StopFuture(root).Wait()
		close(stopped)
	}()
	select {
	case werr := <-done:
		if werr != nil && !errors.Is(werr, actor.ErrTimeout) {
			return nil, werr
		}
		return nil, nil
	case <-time.After(timeout):
		return stopped, fmt.Errorf("actors did not stop within %v (the backends are closed once they have)", timeout)
	}
}

// closeResources closes the listeners, and the LUNs' backends and gateways: at once,
// or, while the tree is still running (running not closed), once it has stopped, so
// that no backend, an embedder's least of all, is closed under a call in progress.
func (s *Service) closeResources(running <-chan struct{}) {
	for _, l := range s.portals {
		l.Close()
	}
	var closers []func() error
	for _, lv := range s.live {
		if lv.gateway != nil {
			closers = append(closers, lv.gateway.Close)
		}
	}
	for _, b := range s.backends {
		closers = append(closers, b.Close)
	}
	s.portals, s.backends = nil, nil
	closeAll := func() {
		for _, c := range closers {
			c()
		}
	}
	if running == nil {
		closeAll()
		return
	}
	s.log.Warn("the actors have not stopped: the backends are closed once they have", "backends", len(closers))
	go func() {
		<-running
		closeAll()
	}()
}

// allowList returns the initiator check for a target; nil admits everyone.
func allowList(names []string) func(string) bool {
	if len(names) == 0 {
		return nil
	}
	set := map[string]bool{}
	for _, n := range names {
		set[n] = true
	}
	return func(initiator string) bool { return set[initiator] }
}
