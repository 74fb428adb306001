package target

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/atgt/atgt/actors/dispatcher"
	"github.com/atgt/atgt/actors/lun"
	"github.com/atgt/atgt/actors/metrics"
	"github.com/atgt/atgt/actors/scsidev"
	"github.com/atgt/atgt/backend"
	pb "github.com/atgt/atgt/messages/atgtv1"
)

// A LUN whose file or block device is missing when a start or a config change (a
// SIGHUP reload, ApplyConfig) opens it does not fail it: one missing disk must not
// keep every other LUN and target down, nor make systemd restart atgtd in a loop.
// The LUN is routed to a missing-store actor (lun.MissingProps), which answers NOT
// READY, MANUAL INTERVENTION REQUIRED (04/03) and looks for the store every
// lun.DefaultRecheck; it stays in the config exactly as written (only the served
// state knows it is missing), so a save keeps it. Once the store is there the
// service opens it as a start does (openLUN: the same size, block device and
// read-only checks) and spawns a LUN actor in the missing one's place; the new
// device model gives every I_T nexus POWER ON, RESET, OR BUS DEVICE RESET OCCURRED
// (29/00) on its first command, as a logical unit that was just powered on: its
// capacity, mode pages and reservations are those loaded now. CAPACITY DATA HAS
// CHANGED (2A/09) would say that only the capacity changed on a unit whose state
// was kept, and a device model knows no nexus before its first command to give it
// to. `atgtctl lun add` of a missing store is still refused: the administrator is
// there to fix the path.

// missingLUN is a LUN served by a missing-store actor.
type missingLUN struct {
	key dispatcher.Key
	set *targetLUNs
	// path is the store looked for; reason why it is not served.
	path, reason string
	// since is when it was found missing.
	since time.Time
	cfg   *pb.Lun
}

// missingSpec makes the spec of a missing-store actor for l, whose store is missing
// (me), and lists it in its set and in s.missing. The caller holds the read guard
// for writing (or the start runs).
func (s *Service) missingSpec(tg *targetLUNs, l *pb.Lun, me *missingStoreError) lunSpec {
	key := dispatcher.Key{Target: tg.route, LUN: l.Id}
	m := &missingLUN{key: key, set: tg, path: l.Path, reason: me.Error(), since: time.Now(), cfg: l}
	if s.missing == nil {
		s.missing = map[dispatcher.Key]*missingLUN{}
	}
	s.missing[key] = m
	tg.addID(l.Id)
	// Counters for atgt_lun_online 0; the LUN actor's replace them.
	mc := metrics.NewLUN(tg.name, tg.initiator, l.Id, 0, nil)
	mc.SetOnline(false)
	s.metrics.Add(tg.route, l.Id, mc)
	log := s.log.Named("lun").With("target", tg.name, "lun", l.Id)
	if tg.initiator != "" {
		log = log.With("initiator", tg.initiator)
	}
	log.Warn("the LUN's store is missing: the LUN is listed but answers NOT READY (MANUAL INTERVENTION REQUIRED) "+
		"until it is there; mount its filesystem or attach its device (it is looked for every "+
		lun.DefaultRecheck.String()+"), or fix or remove the LUN", "path", l.Path, "reason", me.Error())
	devCfg := deviceIdentity(tg, l, scsidev.NAAFromName(tg.naaName(l.Id)))
	devCfg.BlockSize = max(l.BlockSize, DefaultBlockSize)
	dev := scsidev.New(devCfg)
	return lunSpec{key: key, missing: &lun.MissingConfig{Target: tg.name, ID: l.Id, Path: l.Path, Reason: me.Error(),
		Device: dev, Log: log, Appeared: func() { go s.storeAppeared(key) }}}
}

// openOrMissing opens l (openLUN), or, when its store is missing and missingOK,
// makes a missing-store actor's spec for it.
func (s *Service) openOrMissing(field, dataDir string, tg *targetLUNs, l *pb.Lun, wrap func(string, uint64, backend.Backend) backend.Backend,
	missingOK bool) (lunSpec, error) {
	sp, err := s.openLUN(field, dataDir, tg, l, wrap)
	var me *missingStoreError
	if err != nil && missingOK && errors.As(err, &me) {
		return s.missingSpec(tg, l, me), nil
	}
	return sp, err
}

// forgetMissing drops a missing LUN from the service's lists and its set; the
// caller holds the read guard for writing.
func (s *Service) forgetMissing(m *missingLUN) {
	if s.missing[m.key] == m {
		delete(s.missing, m.key)
	}
	m.set.dropID(m.key.LUN)
	s.metrics.Remove(m.key.Target, m.key.LUN)
}

// splitMissing sorts keys into served LUNs and missing ones.
func (s *Service) splitMissing(keys []dispatcher.Key) (served []dispatcher.Key, missing []*missingLUN) {
	for _, k := range keys {
		if m := s.missing[k]; m != nil {
			missing = append(missing, m)
		} else {
			served = append(served, k)
		}
	}
	return served, missing
}

// endMissing removes missing LUNs: their routes go, then their actors (which hold
// no task) stop, and their state files are queued to be set aside as a removed
// LUN's are.
func (s *Service) endMissing(ms []*missingLUN) {
	if len(ms) == 0 {
		return
	}
	for _, m := range ms {
		if pid := s.routes.Lookup(m.key.Target, m.key.LUN); pid != nil {
			s.routes.Set(m.key, nil)
			defer s.poisonLUN(m.key, pid) // after the settle below, in any order
		}
	}
	time.Sleep(routeSettle)
	for _, m := range ms {
		s.edit(func() { s.forgetMissing(m) })
		s.queueAside(m.set, m.key.LUN)
		s.log.Info("LUN removed (its store was missing)", "target", m.set.name, "lun", m.key.LUN, "path", m.path)
	}
}

// storeAppeared brings a missing LUN online once its store is there (its actor's
// Appeared): under the change lock, so that no change runs meanwhile.
func (s *Service) storeAppeared(key dispatcher.Key) {
	_, err := s.run(s.admin.ctx, func(ctx context.Context) (*plan, error) { return nil, s.bringOnline(ctx, key) })
	if err != nil {
		s.log.Warn("a missing LUN's store appeared but the LUN was not brought online", "route", key.Target, "lun", key.LUN,
			"error", err)
	}
}

// bringOnline opens a missing LUN's store as a start does and replaces its
// missing-store actor by a LUN actor; when that fails the missing-store actor hears
// why and looks again. The caller holds the change lock.
func (s *Service) bringOnline(ctx context.Context, key dispatcher.Key) error {
	m := s.missing[key]
	old := s.routes.Lookup(key.Target, key.LUN)
	if m == nil || old == nil || s.system == nil {
		return nil // removed meanwhile
	}
	field, cur := s.servedLUN(key)
	if cur == nil {
		field, cur = "config: "+lunLabel(m.set.name, m.set.initiator, key.LUN), m.cfg
	}
	l := proto.Clone(cur).(*pb.Lun)
	var sp lunSpec
	var err error
	s.created = nil
	s.edit(func() {
		sp, err = s.openLUN(field, s.admin.cfg.DataDir, m.set, l, s.admin.wrap)
		if err != nil {
			s.forgetFailedOpen(key, l)
			m.set.addID(key.LUN) // still listed
		}
	})
	s.removeCreated(s.created) // it existed: nothing was created, but be sure
	s.created = nil
	if err == nil {
		if err = s.spawn(ctx, []lunSpec{sp}); err != nil {
			s.edit(func() {
				s.dropLUNs([]lunSpec{sp})
				m.set.addID(key.LUN)
			})
		}
	}
	if err != nil {
		s.edit(func() { m.reason = err.Error() })
		s.system.Root.Send(old, &lun.StillMissing{Reason: err.Error()})
		if s.metrics.LUN(key.Target, key.LUN) == nil { // dropped with the failed LUN's
			mc := metrics.NewLUN(m.set.name, m.set.initiator, key.LUN, 0, nil)
			mc.SetOnline(false)
			s.metrics.Add(key.Target, key.LUN, mc)
		}
		return nil // logged by the missing-store actor
	}
	s.edit(func() { delete(s.missing, key) })
	s.recordServedStores(s.admin.cfg)
	time.Sleep(routeSettle) // tasks routed to the old actor reach it, and are answered 04/03
	s.poisonLUN(key, old)
	s.log.Info("the missing LUN's store is there: serving it", "target", m.set.name, "lun", key.LUN, "path", m.path,
		"size", sp.live.served.Size(), "missingFor", time.Since(m.since).Round(time.Second))
	return nil
}

// servedLUN finds the LUN routed as key in the served config (with defaults): its
// field name and config, or nil.
func (s *Service) servedLUN(key dispatcher.Key) (string, *pb.Lun) {
	for ti, t := range s.admin.cfg.Targets {
		for _, set := range lunSets(ti, t) {
			if set.route != key.Target {
				continue
			}
			for li, l := range set.luns {
				if l.Id == key.LUN {
					return fmt.Sprintf("config: %s.luns[%d]", set.field, li), l
				}
			}
		}
	}
	return "", nil
}

// isMissing reports whether LUN lun of target's shared LUNs has its store missing.
func (s *Service) isMissing(target string, lun uint64) bool {
	s.admin.mu.RLock()
	defer s.admin.mu.RUnlock()
	return s.missing[dispatcher.Key{Target: target, LUN: lun}] != nil
}
