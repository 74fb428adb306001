package target

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/go-hclog"

	"github.com/atgt/atgt/actors/conn"
	"github.com/atgt/atgt/actors/limit"
	"github.com/atgt/atgt/actors/login"
	"github.com/atgt/atgt/backend"
	"github.com/atgt/atgt/backend/faults"
	pb "github.com/atgt/atgt/messages/atgtv1"
)

// portalGroupTag is the one target portal group every portal belongs to.
const portalGroupTag = 1

// maxTaskBytes caps the write data buffered for one command, and maxBufferedBytes all
// the write data one connection holds at once.
const (
	maxTaskBytes     = 16 << 20
	maxBufferedBytes = 256 << 20
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
	// Faults holds the LUN's configured faults (nil: it has none, and its backend is
	// not wrapped), to read their counts or change them at runtime.
	Faults *faults.Injector
}

// Service is a running target: its actor system, listeners and backends.
type Service struct {
	system   *actor.ActorSystem
	root     *actor.PID
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
	log            hclog.Logger
	// opts are the options the service was started with (embedding, backends).
	opts Options
	// ownSystem: the service made system itself, so it shuts it down at stop;
	// an embedder's (Options.System, Options.Parent) is never shut down.
	ownSystem bool
}

// Options adjusts a service for embedding and tests.
type Options struct {
	// WrapBackend, when set, wraps each LUN's opened backend (for fault injection,
	// counters or crash simulation in tests, or an embedder's own instrumentation).
	// target is the LUN's route: the target's name, or for an initiator's own LUN
	// dispatcher.RouteName(target, initiator).
	WrapBackend func(target string, lun uint64, b backend.Backend) backend.Backend
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
	cfg := ApplyDefaults(in)
	verr := opts.Validate(cfg)
	if field, _ := badExposure(cfg); verr == nil || field != "" {
		warnExposures(cfg, log) // refused or allowed, an unauthenticated exposure is logged
	}
	if verr != nil {
		return nil, verr
	}
	if err := loadSecrets(cfg); err != nil {
		return nil, err
	}
	s := &Service{log: log, grace: time.Duration(cfg.ShutdownGraceSeconds) * time.Second, opts: opts}
	if err := s.useSystem(); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			s.Stop(stopAfterFailedStart)
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
	cc := connConfig(cfg)
	cc.LoginFailed = guard.LoginFailed
	if err := s.spawnTree(specs, cc, guard, opts.WrapRoute); err != nil {
		return nil, err
	}
	return s, nil
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
	}
	return nil
}

// connConfig is the template of every connection's config: what login offers and
// allows, and the limits of the full feature phase.
func connConfig(cfg *pb.Config) conn.Config {
	targets := map[string]login.TargetInfo{}
	var discovery []login.DiscoveryTarget
	for _, t := range cfg.Targets {
		allowed, from := initiatorAllowList(t), allowFrom(t.AllowedNetworks)
		targets[t.Name] = login.TargetInfo{Name: t.Name, Alias: t.Alias, PortalGroupTag: portalGroupTag,
			Allowed: allowed, AllowedFrom: from, Route: initiatorRoute(t)}
		discovery = append(discovery, login.DiscoveryTarget{Name: t.Name, Allowed: allowed, AllowedFrom: from})
	}
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
			Lookup: func(name string) (login.TargetInfo, bool) { t, ok := targets[name]; return t, ok },
			Limits: limits,
			Auth:   chapAuth(cfg),
		},
		Discovery:        discovery,
		QueueDepth:       cfg.QueueDepth,
		NopInterval:      time.Duration(cfg.NopIntervalSeconds) * time.Second,
		NopTimeout:       time.Duration(cfg.NopTimeoutSeconds) * time.Second,
		LoginTimeout:     time.Duration(cfg.LoginTimeoutSeconds) * time.Second,
		WriteTimeout:     time.Duration(cfg.WriteTimeoutSeconds) * time.Second,
		MaxTaskBytes:     maxTaskBytes,
		MaxBufferedBytes: maxBufferedBytes,
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
	started := make(chan error, 1)
	root, err := s.spawnRoot(rootProps(rootConfig{
		luns: specs, connCfg: connCfg, listeners: s.portals, guard: guard, wrapRoute: wrapRoute, log: s.log, started: started,
	}))
	if err != nil {
		return fmt.Errorf("start actor tree: %w", err)
	}
	s.root = root
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

// LUNs lists the served logical units.
func (s *Service) LUNs() []LUNInfo { return s.luns }

// Stop ends every session and closes listeners and backends. Write-back data stays in
// the page cache, as on a disk whose cache was not flushed; the backends are closed
// (not synced) once every IO worker has stopped. Injected faults are cleared first, so
// that a hang cannot hold a worker, and the stop, for ever.
func (s *Service) Stop(timeout time.Duration) error {
	s.releaseFaults()
	err := s.stopTree(timeout)
	s.closeResources()
	s.shutdownSystem()
	return err
}

// shutdownSystem ends the actor system, once, if the service made it.
func (s *Service) shutdownSystem() {
	if s.system != nil && s.ownSystem {
		s.system.Shutdown()
	}
	s.system = nil
}

// stopTree stops the actor tree and waits for it, at most timeout; a stopped tree
// stays stopped.
func (s *Service) stopTree(timeout time.Duration) error {
	if s.root == nil || s.system == nil {
		return nil
	}
	root := s.root
	s.root = nil
	done := make(chan error, 1)
	go func() { done <- s.system.Root.StopFuture(root).Wait() }()
	select {
	case werr := <-done:
		if werr != nil && !errors.Is(werr, actor.ErrTimeout) {
			return werr
		}
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("actors did not stop within %v", timeout)
	}
}

func (s *Service) closeResources() {
	for _, l := range s.portals {
		l.Close()
	}
	for _, b := range s.backends {
		b.Close()
	}
	s.portals, s.backends = nil, nil
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

// stateFileName names a LUN's reservation state file: the target name with every byte
// that is not a letter, digit, dot or dash replaced, so that it is one path element.
func stateFileName(target string, lun uint64) string {
	return fmt.Sprintf("%s-lun%d.pr.json", fileSafe(target), lun)
}

// modesFileName names a LUN's saved mode pages file, beside its reservation state.
func modesFileName(target string, lun uint64) string {
	return fmt.Sprintf("%s-lun%d.modes.json", fileSafe(target), lun)
}

// fileSafe replaces every byte of a target name that is not a letter, digit, dot or
// dash, so that it is one path element.
func fileSafe(target string) []byte {
	b := []byte(target)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
			b[i] = '_'
		}
	}
	return b
}
