package target

import (
	"fmt"
	"net"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/go-hclog"

	"github.com/atgt/atgt/actors/conn"
	"github.com/atgt/atgt/actors/dispatcher"
	"github.com/atgt/atgt/actors/limit"
	"github.com/atgt/atgt/actors/lun"
	"github.com/atgt/atgt/actors/portal"
	"github.com/atgt/atgt/actors/sched"
	"github.com/atgt/atgt/actors/session"
)

// rootName is the root actor's default name (Options.Name); every PID id in the tree
// starts with the root's ("target/dispatcher", "target/lun-<iqn>-0/io1").
const rootName = DefaultName

// Names of the root's children; a LUN's is lunName.
const (
	dispatcherName = "dispatcher"
	sessionsName   = "sessions"
	portalPrefix   = "portal"
	lunPrefix      = "lun-"
)

// lunName is a LUN actor's name. The LUN number follows the last dash, so two LUNs
// never share a name.
func lunName(k dispatcher.Key) string { return fmt.Sprintf("%s%s-%d", lunPrefix, k.Target, k.LUN) }

// missingName is a missing-store actor's name (missing.go): a LUN's too, to the
// supervision, and apart from lunName, which the LUN actor replacing it takes.
func missingName(k dispatcher.Key) string {
	return fmt.Sprintf("%smissing-%s-%d", lunPrefix, k.Target, k.LUN)
}

// rootConfig is everything the root actor spawns its children from: the service's
// config, opened resources and options, fixed before the actor starts.
type rootConfig struct {
	luns      []lunSpec
	connCfg   conn.Config // template for every connection; Dispatcher and Route are filled by the root
	listeners []net.Listener
	// guard admits the portals' connections (nil: no limits).
	guard     *limit.Guard
	wrapRoute func(func(string, uint64) *actor.PID) func(string, uint64) *actor.PID
	// routes is the service's routing table, which the root fills as it spawns LUNs.
	routes *dispatcher.Table
	log    hclog.Logger
	// started receives the outcome of the root's start, once.
	started chan<- error
	// stopped, when set, runs as the root stops (its Stopped), after all its
	// children have (Service.rootStopped).
	stopped func(root *actor.PID)
}

// rootActor is the target's root actor. It spawns and supervises the actors that
// live as long as the service: one per LUN, the command dispatcher, the session
// manager and one listener per portal (the architecture guide's tree). It spawns
// them in Started, in dependency order, and reports the first error to StartWith.
// It has no other work, so that nothing but a bad start can fail it.
type rootActor struct {
	cfg        rootConfig
	strategy   *rootStrategy // the root's supervision, which answers with the routes
	dispatcher *actor.PID
	sessions   *actor.PID
}

// rootProps returns the root actor's props, with its supervision strategy and its own
// guardian (supervision.go).
func rootProps(cfg rootConfig) *actor.Props {
	strategy := newRootStrategy(cfg.log)
	return actor.PropsFromProducer(func() actor.Actor { return &rootActor{cfg: cfg, strategy: strategy} },
		actor.WithSupervisor(strategy), actor.WithGuardian(rootGuardian{}),
		actor.WithDispatcher(sched.Default))
}

// spawnLUNs asks the root to spawn LUN actors an administrator added (their
// backends already open) and route their logical units; done hears the first error.
type spawnLUNs struct {
	specs []lunSpec
	done  func(error)
}

// Receive starts the tree, spawns the LUNs added later, and says when it has stopped.
func (r *rootActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		r.strategy.root = ctx.Self().Id // before any child exists to fail
		err := r.start(ctx)
		select {
		case r.cfg.started <- err:
		default:
		}
	case *spawnLUNs:
		for _, sp := range m.specs {
			if _, err := r.spawnLUN(ctx, sp); err != nil {
				m.done(err)
				return
			}
		}
		m.done(nil)
	case *actor.Stopped:
		if r.cfg.stopped != nil {
			r.cfg.stopped(ctx.Self())
		}
	}
}

// start runs the spawning steps. A panic is an error too: StartWith must hear of it
// rather than wait for ever.
func (r *rootActor) start(ctx actor.Context) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("start actor tree: %v", p)
		}
	}()
	for _, step := range []func(actor.Context) error{r.spawnLUNs, r.spawnDispatcher, r.spawnSessionManager, r.spawnPortals} {
		if err := step(ctx); err != nil {
			return err
		}
	}
	return nil
}

// spawnLUNs spawns one actor per LUN and records its route.
func (r *rootActor) spawnLUNs(ctx actor.Context) error {
	r.strategy.routes = r.cfg.routes
	for _, sp := range r.cfg.luns {
		if _, err := r.spawnLUN(ctx, sp); err != nil {
			return err
		}
	}
	return nil
}

// spawnLUN spawns one LUN actor and routes its logical unit to it.
func (r *rootActor) spawnLUN(ctx actor.Context, sp lunSpec) (*actor.PID, error) {
	if sp.missing != nil {
		pid, err := ctx.SpawnNamed(lun.MissingProps(*sp.missing), missingName(sp.key))
		if err != nil {
			return nil, fmt.Errorf("spawn LUN %d of %s (store missing): %w", sp.key.LUN, sp.key.Target, err)
		}
		r.cfg.routes.Set(sp.key, pid)
		return pid, nil
	}
	pid, err := ctx.SpawnNamed(lun.Props(sp.cfg), lunName(sp.key))
	if err != nil {
		return nil, fmt.Errorf("spawn LUN %d of %s: %w", sp.key.LUN, sp.key.Target, err)
	}
	lun.OpenDoor(ctx.ActorSystem(), pid, sp.cfg)
	r.cfg.routes.Set(sp.key, pid)
	return pid, nil
}

// spawnDispatcher spawns the command dispatcher over the LUNs' routes.
func (r *rootActor) spawnDispatcher(ctx actor.Context) error {
	pid, err := ctx.SpawnNamed(dispatcher.Props(r.cfg.routes, r.cfg.log.Named("dispatcher")), dispatcherName)
	if err != nil {
		return fmt.Errorf("spawn dispatcher: %w", err)
	}
	r.dispatcher = pid
	return nil
}

// spawnSessionManager spawns the session manager; its sessions send tasks straight
// to the LUNs by the fixed routes, and the rest to the dispatcher.
func (r *rootActor) spawnSessionManager(ctx actor.Context) error {
	cc := r.cfg.connCfg
	cc.Dispatcher = r.dispatcher
	cc.Route = r.cfg.routes.Lookup
	cc.RouteVersion = r.cfg.routes.Version
	if r.cfg.wrapRoute != nil {
		cc.Route = r.cfg.wrapRoute(cc.Route)
	}
	pid, err := ctx.SpawnNamed(session.ManagerProps(cc, r.cfg.log.Named("session")), sessionsName)
	if err != nil {
		return fmt.Errorf("spawn session manager: %w", err)
	}
	r.sessions = pid
	return nil
}

// spawnPortals spawns a listener actor per portal, last, so that no connection is
// accepted before the actors it needs exist.
func (r *rootActor) spawnPortals(ctx actor.Context) error {
	for i, ln := range r.cfg.listeners {
		opts := portal.Options{LoginTimeout: r.cfg.connCfg.LoginTimeout}
		if r.cfg.guard != nil {
			opts.Limits = r.cfg.guard.Portal()
		}
		if _, err := ctx.SpawnNamed(portal.Props(ln, r.sessions, r.cfg.log.Named("portal"), opts), fmt.Sprintf("%s%d", portalPrefix, i)); err != nil {
			return fmt.Errorf("spawn portal %s: %w", ln.Addr(), err)
		}
	}
	return nil
}
