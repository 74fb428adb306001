package target

import (
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/go-hclog"
	"google.golang.org/protobuf/proto"

	"github.com/atgt/atgt/actors/logging"
	lunpkg "github.com/atgt/atgt/actors/lun"
	"github.com/atgt/atgt/actors/trace"
	"github.com/atgt/atgt/backend"
	pb "github.com/atgt/atgt/messages/atgtv1"
)

// Embedding: a program with its own protoactor ActorSystem hosts a target in it.
//
// StartWith with Options.System runs the target's actors in the embedder's system,
// under a root actor named Options.Name (default "target"), so that two targets share
// one system side by side as long as their names (and portals) differ. Nothing else in
// the tree is global: the mailbox dispatcher (sched.Default) is a goroutine pool any
// number of systems share, and the package-level locks only serialise state file
// writes. Their LUN files, and their data directories unless their target names
// differ, must not overlap: a file LUN's store is locked, so a second open of it
// fails the start, but state files are found by target name. With
// Options.Parent the root is instead spawned as a child of one of the embedder's
// actors, so the target stops when that actor stops. Either way the Service is the
// handle: Stop and Shutdown stop the target's subtree and close its listeners and
// backends, and never shut the embedder's system down.
//
// Parent is the actor.Context of the embedder's actor, and a Context is valid only
// inside that actor's Receive, so StartWith is then called from there. It returns once
// the target's own actors have started; it never waits on the parent, so it cannot
// deadlock on it, but it holds the parent's turn while the LUN files open. The parent
// receives an *actor.Terminated for the root when the target stops, and failures of
// the root itself (which its start guards against) go to the parent's supervisor.
// Stopping or restarting the parent stops the target's actors, and the root closes
// the listeners and backends as it stops (rootStopped), before the parent's restart
// runs; Shutdown called as the parent gets *actor.Stopping or *actor.Restarting
// (before protoactor stops its children) is the way to flush.
//
// The roots started with System (not Parent) share one supervision guardian, which
// protoactor keeps in the system's registry for the system's lifetime: starting and
// stopping targets leaves nothing else behind in the embedder's system.

// DefaultName is the target's root actor name when Options.Name is empty.
const DefaultName = "target"

// BackendFactory opens the backend of a LUN whose "backend" names it in
// Options.Backends. It receives a copy of the LUN's config after defaults (size_bytes,
// block_size, read_only, and path, which a relative path in the config resolves
// against data_dir as for a file LUN) and returns the backend to serve. The Service
// owns what it returns: Shutdown syncs it, and Stop, Shutdown, a failed start or
// the stop of Options.Parent close it, never under a call in progress. The capacity served is the backend's Size, rounded down to whole blocks. An
// error fails the start, named by the LUN's config field.
type BackendFactory func(lun *pb.Lun) (backend.Backend, error)

// builtinBackends are the backend names a config may always use.
var builtinBackends = map[string]bool{"file": true, "memory": true, "rbd": true}

// WithLogger returns the actor.ConfigOption that sends protoactor's own log lines
// (system start, dead letters, supervision) to log, as the Service does for a system
// it makes. An embedder passes it to actor.NewActorSystem to get the same for its
// own system; protoactor's Info chatter is logged at Debug.
func WithLogger(log hclog.Logger) actor.ConfigOption {
	return actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return logging.NewSlog(log.Named("actor"))
	})
}

// Validate checks a defaulted config (ApplyDefaults) as StartWith with these options
// would: the package's Validate, with the names of o.Backends known as backends too.
func (o Options) Validate(cfg *pb.Config) error {
	for _, name := range sortedNames(o.Backends) {
		switch {
		case builtinBackends[name] || name == "":
			return fmt.Errorf("Options.Backends[%q]: a built-in backend name cannot be given another backend", name)
		case o.Backends[name] == nil:
			return fmt.Errorf("Options.Backends[%q]: the factory is nil", name)
		}
	}
	if _, ok := trace.ParseLevel(o.TraceLevel); !ok {
		return fmt.Errorf("Options.TraceLevel: %q is not off, light or full", o.TraceLevel)
	}
	return validate(cfg, o.Backends)
}

// badBackends returns the first LUN field whose backend is neither built in nor in
// custom, and why, or "".
func badBackends(cfg *pb.Config, custom map[string]BackendFactory) (field, msg string) {
	for ti, t := range cfg.Targets {
		for _, set := range lunSets(ti, t) {
			for li, l := range set.luns {
				if !builtinBackends[l.Backend] && custom[l.Backend] == nil {
					return fmt.Sprintf("%s.luns[%d].backend", set.field, li),
						fmt.Sprintf("%q is not a known backend (file, memory, rbd, or one given in Options.Backends)", l.Backend)
				}
			}
		}
	}
	return "", ""
}

func sortedNames(m map[string]BackendFactory) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// openEmbedded opens a LUN's backend with the embedder's factory of its name.
func (s *Service) openEmbedded(l *pb.Lun) (backend.Backend, error) {
	factory := s.opts.Backends[l.Backend]
	if factory == nil {
		return nil, fmt.Errorf("backend: %q is not a known backend (file, memory, rbd, or one given in Options.Backends)", l.Backend)
	}
	b, err := factory(proto.Clone(l).(*pb.Lun))
	if err != nil {
		return nil, fmt.Errorf("backend %q: %w", l.Backend, err)
	}
	if b == nil {
		return nil, fmt.Errorf("backend %q: the factory returned no backend", l.Backend)
	}
	return b, nil
}

// ErrNameTaken is returned (wrapped, naming the actor) by StartWith when the root
// actor's name is already used in the actor system: another target, or an actor of
// the embedder, runs under it. Give each Service its own Options.Name.
var ErrNameTaken = errors.New("the target's actor name is already used in this actor system; give each Service its own Options.Name")

// useSystem chooses the actor system the tree runs in (the embedder's, or a new one
// the service owns) and checks, before anything is opened, that the root's name is
// free there.
func (s *Service) useSystem() error {
	name := s.rootName()
	if name == "" || strings.Contains(name, "/") || strings.HasPrefix(name, "$") {
		return fmt.Errorf("Options.Name: %q is not an actor name (non-empty, no slash, not starting with $)", name)
	}
	if s.opts.Parent != nil && s.opts.System != nil && s.opts.Parent.ActorSystem() != s.opts.System {
		return errors.New("Options.Parent belongs to another actor system than Options.System")
	}
	switch {
	case s.opts.Parent != nil: // an actor's context, or a root context: its system's top level
		s.system = s.opts.Parent.ActorSystem()
	case s.opts.System != nil:
		s.system = s.opts.System
	default:
		s.system = actor.NewActorSystem(WithLogger(s.log))
		s.ownSystem = true
		return nil
	}
	if _, taken := s.system.ProcessRegistry.GetLocal(s.rootID()); taken {
		return fmt.Errorf("start actor tree: %q: %w", s.rootID(), ErrNameTaken)
	}
	return nil
}

// rootName is the root actor's name.
func (s *Service) rootName() string {
	if s.opts.Name == "" {
		return rootName
	}
	return s.opts.Name
}

// parentActor is the embedder's actor the root is spawned under, or nil when the root
// is a top-level actor of the system (no Parent, or a root context as Parent).
func (s *Service) parentActor() actor.SpawnerContext {
	if s.opts.Parent == nil {
		return nil
	}
	if _, isRoot := s.opts.Parent.(*actor.RootContext); isRoot {
		return nil
	}
	return s.opts.Parent
}

// rootID is the root actor's PID id: its name, under the parent's id if it has one.
func (s *Service) rootID() string {
	if p := s.parentActor(); p != nil {
		return p.Self().Id + "/" + s.rootName()
	}
	return s.rootName()
}

// spawnRoot spawns the root actor under its name: in the system's root context, with
// its own guardian (props as rootProps makes them), or as a child of the embedder's
// actor, whose supervisor then stands in for the guardian (protoactor refuses a
// guardian for a child).
func (s *Service) spawnRoot(props *actor.Props) (*actor.PID, error) {
	var pid *actor.PID
	var err error
	switch {
	case s.parentActor() != nil:
		pid, err = s.parentActor().SpawnNamed(props.Configure(actor.WithGuardian(nil)), s.rootName())
	case s.opts.Parent != nil:
		pid, err = s.opts.Parent.SpawnNamed(props, s.rootName())
	default:
		pid, err = s.system.Root.SpawnNamed(props, s.rootName())
	}
	if errors.Is(err, actor.ErrNameExists) {
		return nil, fmt.Errorf("%q: %w", s.rootID(), ErrNameTaken)
	}
	return pid, err
}

// LUNActor returns the actor that takes an embedder's tasks for a logical unit (of
// target's shared LUNs), or nil: the LUN actor's door (lun.DoorName), which checks
// each task once and forwards it. An embedder sends it *atgtv1.ScsiTask with ReplyTo
// its actor, a CDB, for a write data_out (or data_out_parts) of exactly
// expected_length bytes, which for WRITE and WRITE AND VERIFY is the CDB's
// transfer length, and a traceparent to continue its trace; the answer is a
// *atgtv1.ScsiCompletion. A task without ReplyTo is dropped with a warning; another
// that fails a check is answered CHECK CONDITION, ILLEGAL REQUEST (0E/03, or 20/00
// without a CDB). A task's Nexus is the embedder's I_T nexus: the first task of each
// new one is answered UNIT ATTENTION, POWER ON, RESET (06/29/00), as an initiator's
// first is, and is to be sent again. The PID stays valid while the LUN is served;
// while its store is missing (missing.go) there is none.
func (s *Service) LUNActor(target string, lun uint64) *actor.PID {
	if s.routes == nil || s.isMissing(target, lun) {
		return nil
	}
	pid := s.routes.Lookup(target, lun)
	if pid == nil {
		return nil
	}
	return actor.NewPID(pid.Address, pid.Id+"/"+lunpkg.DoorName)
}

// rootStopped runs in the root actor as it stops, once every actor of the tree has.
// A stop the Service did not ask for (Stop and Shutdown take s.root first) is the
// embedder's: it stopped or restarted the Parent, or stopped the root itself. The
// listeners and backends are then closed here, as Stop closes them (not synced), so
// that they are free before the parent hears of the stop: a parent that restarts
// and starts its target again in Started finds the portals and LUN files free. Stop
// or Shutdown called later finish the rest and flush nothing; neither they nor the
// admin API address the root's name again, which the parent's new target may have.
func (s *Service) rootStopped(root *actor.PID) {
	s.edit(func() {
		if s.root == nil || !s.root.Equal(root) {
			return
		}
		s.rootGone.Store(true)
		s.log.Info("the target's actors stopped without Stop or Shutdown (its parent actor stopped or restarted): "+
			"its portals and LUNs are closed", "root", root.Id)
		s.closeResources(nil)
		s.served = nil
		if s.undelivered != nil {
			s.system.EventStream.Unsubscribe(s.undelivered)
			s.undelivered = nil
		}
	})
}
