package target

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/atgt/atgt/actors/dispatcher"
	"github.com/atgt/atgt/actors/lun"
	"github.com/atgt/atgt/actors/reservation"
	"github.com/atgt/atgt/actors/scsidev"
	"github.com/atgt/atgt/actors/trace"
	"github.com/atgt/atgt/backend"
	"github.com/atgt/atgt/backend/faults"
	pb "github.com/atgt/atgt/messages/atgtv1"
)

// lunSpec is one LUN ready to be spawned: its route key and its actor's config, with
// the backend open and the persisted state loaded.
type lunSpec struct {
	key  dispatcher.Key
	cfg  lun.Config
	live *liveLUN
	// missing, if set, makes the spec a missing-store actor's (missing.go): the
	// LUN's store is missing, and cfg and live are empty.
	missing *lun.MissingConfig
}

// openBackends opens every LUN's backend and loads its persisted state (saved mode
// pages, reservations), so that a LUN that cannot be served fails the start before
// any actor runs; a LUN whose store is missing is served NOT READY (missing.go).
// The opened backends are recorded in s, to be closed at Stop.
func (s *Service) openBackends(cfg *pb.Config, wrap func(string, uint64, backend.Backend) backend.Backend) ([]lunSpec, error) {
	// Owner only: it holds the LUNs' state, maybe their images and the admin token.
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	served, err := loadServedStores(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	s.servedStores, s.storesDir = served, cfg.DataDir
	s.legacyShared = legacySharedBases(cfg)
	s.reconcileAside(cfg)
	var specs []lunSpec
	for ti, t := range cfg.Targets {
		// Each set of LUNs (the shared ones, each initiator's own) is a target of
		// its own to REPORT LUNS and EXTENDED COPY.
		for _, set := range lunSets(ti, t) {
			tg := s.lunSet(t.Name, set.initiator, set.route)
			tg.ports = portGroupsOf(t)
			for li, l := range set.luns {
				spec, err := s.openOrMissing(fmt.Sprintf("config: %s.luns[%d]", set.field, li), cfg.DataDir, tg, l, wrap, true)
				if err != nil {
					return nil, err
				}
				specs = append(specs, spec)
			}
		}
	}
	return specs, nil
}

// targetLUNs is what the LUNs of one set share: a target's shared LUNs, or one
// initiator's own. EXTENDED COPY works between the LUNs of one set: each LUN's device
// sees the others by NAA, and its copy manager reaches their actors through peers. An administrator adds and removes LUNs while
// the LUN actors read the set, so the LUN list is replaced whole and the copy targets
// are behind a lock (read only by EXTENDED COPY).
type targetLUNs struct {
	name      string
	initiator string // "" for the target's shared LUNs
	route     string // the LUNs' dispatcher.Key.Target
	// ids are the set's LUN numbers, ascending, for REPORT LUNS.
	ids   atomic.Pointer[[]uint64]
	peers *lun.Registry
	mu    sync.RWMutex
	// copyTargets describe the set's LUNs by NAA, for EXTENDED COPY.
	copyTargets map[uint64]scsidev.CopyTarget
	// ports are the target's ALUA port groups (portgroups.go).
	ports portGroups
}

// lunSet returns the set of LUNs routed as route, made empty the first time.
func (s *Service) lunSet(name, initiator, route string) *targetLUNs {
	if s.sets == nil {
		s.sets = map[string]*targetLUNs{}
	}
	if tg, ok := s.sets[route]; ok {
		return tg
	}
	tg := &targetLUNs{name: name, initiator: initiator, route: route, peers: lun.NewRegistry(),
		copyTargets: map[uint64]scsidev.CopyTarget{}}
	tg.ids.Store(&[]uint64{})
	s.sets[route] = tg
	return tg
}

// listLUNs returns the set's LUN numbers, ascending.
func (tg *targetLUNs) listLUNs() []uint64 { return *tg.ids.Load() }

// addID lists id in the set; dropID takes it off.
func (tg *targetLUNs) addID(id uint64) {
	if slices.Contains(tg.listLUNs(), id) { // a missing LUN coming online
		return
	}
	ids := append(slices.Clone(tg.listLUNs()), id)
	slices.Sort(ids)
	tg.ids.Store(&ids)
}

func (tg *targetLUNs) dropID(id uint64) {
	ids := slices.DeleteFunc(slices.Clone(tg.listLUNs()), func(x uint64) bool { return x == id })
	tg.ids.Store(&ids)
}

// setCopyTarget describes a LUN for EXTENDED COPY (nil ct: removes it).
func (tg *targetLUNs) setCopyTarget(naa uint64, ct *scsidev.CopyTarget) {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	if ct == nil {
		delete(tg.copyTargets, naa)
		return
	}
	tg.copyTargets[naa] = *ct
}

// stateBase is the start of the names of the set's LUN state files (statefiles.go).
func (tg *targetLUNs) stateBase() string { return stateBase(tg.name, tg.initiator) }

// naaName is what a LUN's NAA identifier (and so its default serial number) is
// derived from: "<target>/<id>", or "<target>/<initiator>/<id>" for an initiator's
// own LUN, so that two initiators' LUN 0 are different logical units to multipath.
func (tg *targetLUNs) naaName(id uint64) string {
	if tg.initiator == "" {
		return fmt.Sprintf("%s/%d", tg.name, id)
	}
	return fmt.Sprintf("%s/%s/%d", tg.name, tg.initiator, id)
}

func (tg *targetLUNs) lookupCopyTarget(naa uint64) (scsidev.CopyTarget, bool) {
	tg.mu.RLock()
	defer tg.mu.RUnlock()
	ct, ok := tg.copyTargets[naa]
	return ct, ok
}

// openLUN opens one LUN's backend and builds its device model; field names the LUN
// in errors ("config: targets[i].luns[j]").
func (s *Service) openLUN(field, dataDir string, tg *targetLUNs, l *pb.Lun, wrap func(string, uint64, backend.Backend) backend.Backend) (_ lunSpec, err error) {
	var thin bool
	switch l.Provisioning {
	case "", "thin":
		thin = true
	case "thick":
	default:
		return lunSpec{}, fmt.Errorf("%s.provisioning: %q is not thin or thick", field, l.Provisioning)
	}
	var b backend.Backend
	switch l.Backend {
	case "memory":
		b = backend.NewMemory(int64(l.SizeBytes))
	case "file", "":
		if other, key := s.servingStore(l.Path); other != "" {
			if slices.Contains(s.removing, key) {
				return lunSpec{}, fmt.Errorf("%s.path: %s is the store of %s, which this same change removes: "+
					"a store does not pass from one LUN to another within one change (the old LUN holds it until "+
					"the change ends); make it two changes: remove the old LUN, then add the new one", field, l.Path, other)
			}
			return lunSpec{}, fmt.Errorf("%s.path: %s is the file or device %s already serves: "+
				"two LUNs on one store would corrupt each other's data", field, l.Path, other)
		}
		create, err := s.createStore(field, l)
		if err != nil {
			return lunSpec{}, err
		}
		// Gateway nodes share their store on purpose (README "Several gateways").
		shared := s.opts.SharedStores || len(tg.ports.ids) > 0
		b, err = backend.Open(backend.Options{Path: l.Path, Size: int64(l.SizeBytes), Create: create,
			ReadOnly: l.ReadOnly, Preallocate: !thin, Direct: l.DirectIo, Shared: shared, BlockSize: int(l.BlockSize)})
		if create {
			if _, serr := os.Stat(l.Path); serr == nil {
				s.created = append(s.created, l.Path)
				s.log.Info("created the LUN's file", "target", tg.name, "lun", l.Id, "path", l.Path, "size", l.SizeBytes)
			}
		}
		if err != nil {
			return lunSpec{}, fmt.Errorf("%s: %w", field, err)
		}
	case "rbd":
		var err error
		warn := func(msg string) { s.log.Warn(msg, "target", tg.name, "lun", l.Id) }
		if b, err = openRBD(l, len(tg.ports.ids) > 0, warn); err != nil {
			return lunSpec{}, fmt.Errorf("%s: %w", field, err)
		}
	default: // an embedder's, by name (Options.Backends)
		var err error
		if b, err = s.openEmbedded(l); err != nil {
			return lunSpec{}, fmt.Errorf("%s: %w", field, err)
		}
	}
	s.backends = append(s.backends, b)
	raw := b
	defer func() {
		r := recover()              // a panic (a wrapper's, say) must not leak the backend either
		if err != nil || r != nil { // close it now: a retry must not find its file locked
			s.backends = slices.DeleteFunc(s.backends, func(x backend.Backend) bool { return x == raw })
			s.served = slices.DeleteFunc(s.served, func(x servedLUN) bool { return x.target == tg.route && x.id == l.Id })
			raw.Close()
		}
		if r != nil {
			panic(r)
		}
	}()
	log := s.log.Named("lun").With("target", tg.name, "lun", l.Id)
	if tg.initiator != "" {
		log = log.With("initiator", tg.initiator)
	}
	// Faults act closest to the store, as a misbehaving disk would. Every LUN has an
	// injector, so that an administrator can set faults at runtime; with none set it
	// costs an atomic load per call and keeps vectored IO (faults.Wrap).
	var rnd *rand.Rand
	if l.FaultSeed != nil {
		rnd = faults.Seeded(l.GetFaultSeed())
	}
	inj := faults.New(log.Named("faults"), rnd)
	if len(l.Faults) > 0 {
		inj.Set(lunFaults(l.Faults))
	}
	b = inj.Wrap(b)
	if wrap != nil {
		b = wrap(tg.route, l.Id, b)
	}
	// Outermost, so that a sync it adds after each write is seen by every wrapper.
	b = lun.ApplyPolicy(l.IoPolicy, b)
	s.served = append(s.served, servedLUN{target: tg.route, id: l.Id, b: b})
	// A deallocated range reads as zeros in a file (a punched hole) or in memory, but
	// a block device's discard promises nothing.
	_, isBlockDevice := b.(backend.BlockSizer)
	blockSize := l.BlockSize
	if bs, ok := b.(backend.BlockSizer); ok && uint32(bs.LogicalBlockSize()) > blockSize {
		blockSize = uint32(bs.LogicalBlockSize())
	}
	blocks := uint64(b.Size()) / uint64(blockSize)
	if blocks == 0 {
		return lunSpec{}, fmt.Errorf("%s: %s is smaller than one block", field, l.Path)
	}
	// Saved mode pages (MODE SELECT with SP=1) live beside the reservation state and
	// override the configured WCE.
	s.adoptLegacyState(dataDir, tg, l.Id)
	modesPath := filepath.Join(dataDir, modesFileName(tg.stateBase(), l.Id))
	savedModes, err := lun.LoadModesFile(modesPath)
	if err != nil {
		return lunSpec{}, fmt.Errorf("%s: %w", field, err)
	}
	naa := scsidev.NAAFromName(tg.naaName(l.Id))
	for _, lv := range s.live {
		if lv.naa == naa && lv.key != (dispatcher.Key{Target: tg.route, LUN: l.Id}) {
			// Multipath would take two logical units for two paths to one.
			return lunSpec{}, fmt.Errorf("%s: its NAA identifier %016x is also %s's; rename the target",
				field, naa, lunLabel(lv.set.name, lv.set.initiator, lv.key.LUN))
		}
	}
	tg.setCopyTarget(naa, &scsidev.CopyTarget{BlockSize: blockSize, Blocks: blocks, ReadOnly: l.ReadOnly})
	tg.addID(l.Id)
	devCfg := deviceIdentity(tg, l, naa)
	devCfg.BlockSize, devCfg.Blocks = blockSize, blocks
	devCfg.SaveModes, devCfg.Saved = true, savedModes
	devCfg.Thin, devCfg.UnmapReadsZero = thin, thin && !isBlockDevice
	devCfg.CopyTargets = tg.lookupCopyTarget
	devCfg.AllowSanitize, devCfg.SanitizeBytesPerSecond = l.AllowSanitize, l.SanitizeBytesPerSecond
	alua := tg.ports.model(raw)
	if alua != nil && alua.Owner != nil {
		devCfg.ImplicitTransitionSeconds = implicitTransitionSeconds
	}
	dev := scsidev.New(devCfg)
	// Persistent reservations with APTPL live in the data directory beside the LUN
	// files and are loaded back at start.
	prPath := filepath.Join(dataDir, stateFileName(tg.stateBase(), l.Id))
	prStore, err := clusterReservations(l, tg, log)
	if err != nil {
		return lunSpec{}, fmt.Errorf("%s: reservations in the cluster: %w", field, err)
	}
	var prTable *reservation.Table
	if prStore != nil {
		prTable = prStore.Cache()
	} else if prTable, err = reservation.LoadState(prPath); err != nil {
		return lunSpec{}, fmt.Errorf("%s: reservation state: %w", field, err)
	}
	// A LUN actor that fails rebuilds its device model and reservations the same way,
	// from the config and the files in the data directory.
	rebuild := func() (*scsidev.Device, *reservation.Table, error) {
		saved, err := lun.LoadModesFile(modesPath)
		if err != nil {
			return nil, nil, err
		}
		c := devCfg
		c.Saved = saved
		c.Blocks = uint64(b.Size()) / uint64(blockSize) // the size now, after any resize
		if prStore != nil {
			return scsidev.New(c), prStore.Cache(), nil
		}
		rt, err := reservation.LoadState(prPath)
		if err != nil {
			return nil, nil, err
		}
		return scsidev.New(c), rt, nil
	}
	gw, err := tg.ports.gatewayChannel(l)
	if err != nil {
		if prStore != nil {
			prStore.Close() // nothing else holds it yet
		}
		return lunSpec{}, fmt.Errorf("%s: events between gateways: %w", field, err)
	}
	locateOwner(alua, gw, raw, log)
	s.luns = append(s.luns, LUNInfo{Target: tg.name, Initiator: tg.initiator, ID: l.Id, Path: l.Path, Size: b.Size(), Faults: inj})
	counters := s.addLUNMetrics(tg, l, inj)
	key := dispatcher.Key{Target: tg.route, LUN: l.Id}
	live := &liveLUN{key: key, set: tg, cfg: l, raw: raw, served: b, faults: inj, naa: naa, blockSize: blockSize,
		readOnly: l.ReadOnly, pr: prStore}
	if idf, ok := raw.(backend.Identified); ok {
		if id, err := idf.StoreID(); err == nil {
			live.store = &id
		}
	}
	var gateways lun.Gateways
	if gw != nil {
		live.gateway, gateways = gw, gw
	}
	if s.live == nil {
		s.live = map[dispatcher.Key]*liveLUN{}
	}
	s.live[key] = live
	s.watchSize(live)
	flight := trace.NewFlight(tg.name, l.Id, s.flightTasks, int(max(l.Workers, 1))+1, log)
	flight.Emit = func(tl *trace.Timeline) { s.tracer.Emit(tl) } // bad ends, embedders' tasks
	return lunSpec{
		live: live,
		key:  key,
		cfg: lun.Config{Target: tg.name, ID: l.Id, Device: dev, Backend: b, Faults: inj, Workers: int(l.Workers),
			Reservations: prTable, ClusterPR: prStore, StatePath: prPath, ModesPath: modesPath, Peers: tg.peers,
			IOTimeout: time.Duration(l.GetIoTimeout() * float64(time.Second)), Rebuild: rebuild, Metrics: counters, Log: log,
			Flight: flight, ALUA: alua, Gateways: gateways, Reopen: s.reopenOf(raw, tg.name)},
	}, nil
}

// servingStore names the served LUN whose file or block device is the one at path
// (compared by device and inode, or device number: a symlink, an LVM volume's two
// names or /proc/self/root/... are one store), and gives its key; "" if none is, or
// path does not exist yet.
func (s *Service) servingStore(path string) (string, dispatcher.Key) {
	id, err := backend.PathStoreID(path)
	if err != nil {
		return "", dispatcher.Key{}
	}
	for _, lv := range s.live {
		if lv.store != nil && *lv.store == id {
			return lunLabel(lv.set.name, lv.set.initiator, lv.key.LUN), lv.key
		}
	}
	return "", dispatcher.Key{}
}

// deviceIdentity is the part of a LUN's device model that does not depend on its
// store: what INQUIRY, REPORT LUNS and the port group reports answer, the same
// while the store is missing (missing.go) as once it is open.
func deviceIdentity(tg *targetLUNs, l *pb.Lun, naa uint64) scsidev.Config {
	return scsidev.Config{SerialNumber: l.Serial, NAA: naa, ReadOnly: l.ReadOnly, WriteCache: l.GetWriteCache(),
		TargetName: tg.name, PortalGroupTag: tg.ports.tag(), TargetPortGroup: tg.ports.local,
		RelativePortID: tg.ports.local, PortGroups: tg.ports.ids, LUN: l.Id, ListLUNs: tg.listLUNs}
}

// forgetFailedOpen drops the LUN routed as key if openLUN registered it (for l) and
// a later check then failed; the caller holds the read guard for writing.
func (s *Service) forgetFailedOpen(key dispatcher.Key, l *pb.Lun) {
	if lv := s.live[key]; lv != nil && lv.cfg == l {
		s.forget(lv)
	}
}
