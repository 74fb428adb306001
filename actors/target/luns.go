package target

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/atgt/atgt/actors/dispatcher"
	"github.com/atgt/atgt/actors/lun"
	"github.com/atgt/atgt/actors/reservation"
	"github.com/atgt/atgt/actors/scsidev"
	"github.com/atgt/atgt/backend"
	"github.com/atgt/atgt/backend/faults"
	pb "github.com/atgt/atgt/messages/atgtv1"
)

// lunSpec is one LUN ready to be spawned: its route key and its actor's config, with
// the backend open and the persisted state loaded.
type lunSpec struct {
	key dispatcher.Key
	cfg lun.Config
}

// openBackends opens every LUN's backend and loads its persisted state (saved mode
// pages, reservations), so that a LUN that cannot be served fails the start before
// any actor runs. The opened backends are recorded in s, to be closed at Stop.
func (s *Service) openBackends(cfg *pb.Config, wrap func(string, uint64, backend.Backend) backend.Backend) ([]lunSpec, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	var specs []lunSpec
	for ti, t := range cfg.Targets {
		// Each set of LUNs (the shared ones, each initiator's own) is a target of
		// its own to REPORT LUNS and EXTENDED COPY.
		for _, set := range lunSets(ti, t) {
			ids := make([]uint64, 0, len(set.luns))
			for _, l := range set.luns {
				ids = append(ids, l.Id)
			}
			sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
			tg := &targetLUNs{
				name:        t.Name,
				initiator:   set.initiator,
				route:       set.route,
				listLUNs:    func() []uint64 { return ids },
				peers:       lun.Registry{},
				copyTargets: map[uint64]scsidev.CopyTarget{},
			}
			for li, l := range set.luns {
				spec, err := s.openLUN(fmt.Sprintf("config: %s.luns[%d]", set.field, li), cfg.DataDir, tg, l, wrap)
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
// and IO workers see the others by NAA. Both maps are filled while the backends are
// opened, before any actor runs, and only read afterwards.
type targetLUNs struct {
	name        string
	initiator   string // "" for the target's shared LUNs
	route       string // the LUNs' dispatcher.Key.Target
	listLUNs    func() []uint64
	peers       lun.Registry
	copyTargets map[uint64]scsidev.CopyTarget
}

// stateBase is the start of the names of the set's LUN state files: the target's
// name, and for an initiator's own LUNs "--" and the initiator's name (made one path
// element by fileSafe).
func (tg *targetLUNs) stateBase() string {
	if tg.initiator == "" {
		return tg.name
	}
	return tg.name + "--" + tg.initiator
}

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
	ct, ok := tg.copyTargets[naa]
	return ct, ok
}

// openLUN opens one LUN's backend and builds its device model; field names the LUN
// in errors ("config: targets[i].luns[j]").
func (s *Service) openLUN(field, dataDir string, tg *targetLUNs, l *pb.Lun, wrap func(string, uint64, backend.Backend) backend.Backend) (lunSpec, error) {
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
		var err error
		b, err = backend.Open(backend.Options{Path: l.Path, Size: int64(l.SizeBytes), Create: !l.ReadOnly,
			ReadOnly: l.ReadOnly, Preallocate: !thin, Direct: l.DirectIo})
		if err != nil {
			return lunSpec{}, fmt.Errorf("%s: %w", field, err)
		}
	default: // an embedder's, by name (Options.Backends)
		var err error
		if b, err = s.openEmbedded(l); err != nil {
			return lunSpec{}, fmt.Errorf("%s: %w", field, err)
		}
	}
	s.backends = append(s.backends, b)
	log := s.log.Named("lun").With("target", tg.name, "lun", l.Id)
	if tg.initiator != "" {
		log = log.With("initiator", tg.initiator)
	}
	// Configured faults act closest to the store, as a misbehaving disk would.
	var inj *faults.Injector
	if len(l.Faults) > 0 {
		var rnd *rand.Rand
		if l.FaultSeed != nil {
			rnd = faults.Seeded(l.GetFaultSeed())
		}
		inj = faults.New(log.Named("faults"), rnd)
		inj.Set(lunFaults(l.Faults))
		b = inj.Wrap(b)
	}
	if wrap != nil {
		b = wrap(tg.route, l.Id, b)
	}
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
	modesPath := filepath.Join(dataDir, modesFileName(tg.stateBase(), l.Id))
	savedModes, err := lun.LoadModesFile(modesPath)
	if err != nil {
		return lunSpec{}, fmt.Errorf("%s: %w", field, err)
	}
	naa := scsidev.NAAFromName(tg.naaName(l.Id))
	tg.peers[naa] = b
	tg.copyTargets[naa] = scsidev.CopyTarget{BlockSize: blockSize, Blocks: blocks, ReadOnly: l.ReadOnly}
	devCfg := scsidev.Config{
		SerialNumber:           l.Serial,
		NAA:                    naa,
		BlockSize:              blockSize,
		Blocks:                 blocks,
		ReadOnly:               l.ReadOnly,
		WriteCache:             l.GetWriteCache(),
		SaveModes:              true,
		Saved:                  savedModes,
		TargetName:             tg.name,
		PortalGroupTag:         portalGroupTag,
		LUN:                    l.Id,
		ListLUNs:               tg.listLUNs,
		Thin:                   thin,
		UnmapReadsZero:         thin && !isBlockDevice,
		CopyTargets:            tg.lookupCopyTarget,
		AllowSanitize:          l.AllowSanitize,
		SanitizeBytesPerSecond: l.SanitizeBytesPerSecond,
	}
	dev := scsidev.New(devCfg)
	// Persistent reservations with APTPL live in the data directory beside the LUN
	// files and are loaded back at start.
	prPath := filepath.Join(dataDir, stateFileName(tg.stateBase(), l.Id))
	prTable, err := reservation.LoadState(prPath)
	if err != nil {
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
		rt, err := reservation.LoadState(prPath)
		if err != nil {
			return nil, nil, err
		}
		return scsidev.New(c), rt, nil
	}
	s.luns = append(s.luns, LUNInfo{Target: tg.name, Initiator: tg.initiator, ID: l.Id, Path: l.Path, Size: b.Size(), Faults: inj})
	return lunSpec{
		key: dispatcher.Key{Target: tg.route, LUN: l.Id},
		cfg: lun.Config{Target: tg.name, ID: l.Id, Device: dev, Backend: b, Faults: inj, Workers: int(l.Workers),
			Reservations: prTable, StatePath: prPath, ModesPath: modesPath, Peers: tg.peers,
			IOTimeout: time.Duration(l.GetIoTimeout() * float64(time.Second)), Rebuild: rebuild, Log: log},
	}, nil
}
