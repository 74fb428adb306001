package target

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/go-hclog"

	"github.com/atgt/atgt/actors/conn"
	"github.com/atgt/atgt/actors/dispatcher"
	"github.com/atgt/atgt/actors/logging"
	"github.com/atgt/atgt/actors/login"
	"github.com/atgt/atgt/actors/lun"
	"github.com/atgt/atgt/actors/portal"
	"github.com/atgt/atgt/actors/reservation"
	"github.com/atgt/atgt/actors/sched"
	"github.com/atgt/atgt/actors/scsidev"
	"github.com/atgt/atgt/actors/session"
	"github.com/atgt/atgt/backend"
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

// LUNInfo describes a served logical unit, for the daemon's start-up report.
type LUNInfo struct {
	Target string
	ID     uint64
	Path   string
	Size   int64
}

// Service is a running target: its actor system, listeners and backends.
type Service struct {
	system   *actor.ActorSystem
	root     *actor.PID
	portals  []net.Listener
	backends []backend.Backend
	luns     []LUNInfo
	log      hclog.Logger
}

// Options adjusts a service for embedding and tests.
type Options struct {
	// WrapBackend, when set, wraps each LUN's opened backend (for fault injection,
	// counters or crash simulation in tests, or an embedder's own instrumentation).
	WrapBackend func(target string, lun uint64, b backend.Backend) backend.Backend
}

// Start validates cfg (after defaults), opens every backend and listener, and spawns
// the actor tree. Any failure is returned before anything is served.
func Start(in *pb.Config, log hclog.Logger) (*Service, error) {
	return StartWith(in, log, Options{})
}

// StartWith is Start with options.
func StartWith(in *pb.Config, log hclog.Logger, opts Options) (_ *Service, err error) {
	cfg := ApplyDefaults(in)
	if err := Validate(cfg); err != nil {
		return nil, err
	}
	s := &Service{log: log}
	defer func() {
		if err != nil {
			s.closeResources()
		}
	}()
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	type lunSpec struct {
		key dispatcher.Key
		cfg lun.Config
	}
	var specs []lunSpec
	for ti, t := range cfg.Targets {
		ids := make([]uint64, 0, len(t.Luns))
		for _, l := range t.Luns {
			ids = append(ids, l.Id)
		}
		sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
		listLUNs := func() []uint64 { return ids }
		// EXTENDED COPY works between the LUNs of one target: each LUN's
		// device and IO workers see the others by NAA. Both maps are filled
		// here, before any actor runs, and only read afterwards.
		peers := lun.Registry{}
		copyTargets := map[uint64]scsidev.CopyTarget{}
		lookupCopyTarget := func(naa uint64) (scsidev.CopyTarget, bool) { ct, ok := copyTargets[naa]; return ct, ok }
		for li, l := range t.Luns {
			var thin bool
			switch l.Provisioning {
			case "", "thin":
				thin = true
			case "thick":
			default:
				return nil, fmt.Errorf("config: targets[%d].luns[%d].provisioning: %q is not thin or thick", ti, li, l.Provisioning)
			}
			var b backend.Backend
			switch l.Backend {
			case "memory":
				b = backend.NewMemory(int64(l.SizeBytes))
			default:
				b, err = backend.Open(backend.Options{Path: l.Path, Size: int64(l.SizeBytes), Create: !l.ReadOnly, ReadOnly: l.ReadOnly, Preallocate: !thin,
					Direct: l.DirectIo})
				if err != nil {
					return nil, fmt.Errorf("config: targets[%d].luns[%d]: %w", ti, li, err)
				}
			}
			s.backends = append(s.backends, b)
			if opts.WrapBackend != nil {
				b = opts.WrapBackend(t.Name, l.Id, b)
			}
			// A deallocated range reads as zeros in a file (a punched hole) or
			// in memory, but a block device's discard promises nothing.
			_, isBlockDevice := b.(backend.BlockSizer)
			blockSize := l.BlockSize
			if bs, ok := b.(backend.BlockSizer); ok && uint32(bs.LogicalBlockSize()) > blockSize {
				blockSize = uint32(bs.LogicalBlockSize())
			}
			blocks := uint64(b.Size()) / uint64(blockSize)
			if blocks == 0 {
				return nil, fmt.Errorf("config: targets[%d].luns[%d]: %s is smaller than one block", ti, li, l.Path)
			}
			// Saved mode pages (MODE SELECT with SP=1) live beside the reservation
			// state and override the configured WCE.
			modesPath := filepath.Join(cfg.DataDir, modesFileName(t.Name, l.Id))
			savedModes, err := lun.LoadModesFile(modesPath)
			if err != nil {
				return nil, fmt.Errorf("config: targets[%d].luns[%d]: %w", ti, li, err)
			}
			naa := scsidev.NAAFromName(fmt.Sprintf("%s/%d", t.Name, l.Id))
			peers[naa] = b
			copyTargets[naa] = scsidev.CopyTarget{BlockSize: blockSize, Blocks: blocks, ReadOnly: l.ReadOnly}
			dev := scsidev.New(scsidev.Config{
				SerialNumber:           l.Serial,
				NAA:                    naa,
				BlockSize:              blockSize,
				Blocks:                 blocks,
				ReadOnly:               l.ReadOnly,
				WriteCache:             l.GetWriteCache(),
				SaveModes:              true,
				Saved:                  savedModes,
				TargetName:             t.Name,
				PortalGroupTag:         portalGroupTag,
				LUN:                    l.Id,
				ListLUNs:               listLUNs,
				Thin:                   thin,
				UnmapReadsZero:         thin && !isBlockDevice,
				CopyTargets:            lookupCopyTarget,
				AllowSanitize:          l.AllowSanitize,
				SanitizeBytesPerSecond: l.SanitizeBytesPerSecond,
			})
			// Persistent reservations with APTPL live in the data directory beside the
			// LUN files and are loaded back at start.
			prPath := filepath.Join(cfg.DataDir, stateFileName(t.Name, l.Id))
			prTable, err := reservation.LoadState(prPath)
			if err != nil {
				return nil, fmt.Errorf("config: targets[%d].luns[%d]: reservation state: %w", ti, li, err)
			}
			specs = append(specs, lunSpec{
				key: dispatcher.Key{Target: t.Name, LUN: l.Id},
				cfg: lun.Config{Target: t.Name, ID: l.Id, Device: dev, Backend: b, Workers: int(l.Workers),
					Reservations: prTable, StatePath: prPath, ModesPath: modesPath, Peers: peers,
					Log: log.Named("lun").With("target", t.Name, "lun", l.Id)},
			})
			s.luns = append(s.luns, LUNInfo{Target: t.Name, ID: l.Id, Path: l.Path, Size: b.Size()})
		}
	}
	for i, addr := range cfg.Portals {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("config: portals[%d]: %w", i, err)
		}
		s.portals = append(s.portals, ln)
	}

	targets := map[string]login.TargetInfo{}
	var discovery []login.DiscoveryTarget
	for _, t := range cfg.Targets {
		allowed := allowList(t.AllowedInitiators)
		targets[t.Name] = login.TargetInfo{Name: t.Name, Alias: t.Alias, PortalGroupTag: portalGroupTag, Allowed: allowed}
		discovery = append(discovery, login.DiscoveryTarget{Name: t.Name, Allowed: allowed})
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
	connCfg := conn.Config{
		Login: login.Config{
			Lookup: func(name string) (login.TargetInfo, bool) { t, ok := targets[name]; return t, ok },
			Limits: limits,
		},
		Discovery:        discovery,
		QueueDepth:       cfg.QueueDepth,
		NopInterval:      time.Duration(cfg.NopIntervalSeconds) * time.Second,
		NopTimeout:       time.Duration(cfg.NopTimeoutSeconds) * time.Second,
		LoginTimeout:     time.Duration(cfg.LoginTimeoutSeconds) * time.Second,
		MaxTaskBytes:     maxTaskBytes,
		MaxBufferedBytes: maxBufferedBytes,
	}

	s.system = actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return logging.NewSlog(log.Named("actor"))
	}))
	ready := make(chan struct{})
	rootProps := actor.PropsFromFunc(func(ctx actor.Context) {
		if _, ok := ctx.Message().(*actor.Started); !ok {
			return
		}
		routes := dispatcher.Routes{}
		for _, sp := range specs {
			pid, err := ctx.SpawnNamed(lun.Props(sp.cfg), fmt.Sprintf("lun-%s-%d", sp.key.Target, sp.key.LUN))
			if err != nil {
				pid = ctx.Spawn(lun.Props(sp.cfg))
			}
			routes[sp.key] = pid
		}
		connCfg.Dispatcher, _ = ctx.SpawnNamed(dispatcher.Props(routes, log.Named("dispatcher")), "dispatcher")
		connCfg.Route = routes.Lookup
		mgr, _ := ctx.SpawnNamed(session.ManagerProps(connCfg, log.Named("session")), "sessions")
		for i, ln := range s.portals {
			ctx.SpawnNamed(portal.Props(ln, mgr, log.Named("portal")), fmt.Sprintf("portal%d", i))
		}
		close(ready)
	}, actor.WithDispatcher(sched.Default))
	s.root, err = s.system.Root.SpawnNamed(rootProps, "target")
	if err != nil {
		return nil, fmt.Errorf("start actor tree: %w", err)
	}
	<-ready
	return s, nil
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
// (not synced) once every IO worker has stopped.
func (s *Service) Stop(timeout time.Duration) error {
	var err error
	if s.root != nil {
		done := make(chan error, 1)
		go func() { done <- s.system.Root.StopFuture(s.root).Wait() }()
		select {
		case werr := <-done:
			if werr != nil && !errors.Is(werr, actor.ErrTimeout) {
				err = werr
			}
		case <-time.After(timeout):
			err = fmt.Errorf("actors did not stop within %v", timeout)
		}
	}
	s.closeResources()
	if s.system != nil {
		s.system.Shutdown()
	}
	return err
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
