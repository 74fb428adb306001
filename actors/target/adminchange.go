package target

import (
	"context"
	"errors"
	"runtime/debug"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/atgt/atgt/actors/admin"
	"github.com/atgt/atgt/actors/dispatcher"
	"github.com/atgt/atgt/actors/lun"
	"github.com/atgt/atgt/backend"
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/scsi"
)

// Every change of the admin API is one edit of the config: the edit is made on a copy
// of the config as the administrator wrote it, the result is validated whole (so an
// error names the bad field as at start), diffed against the served config, applied
// live, and saved. ApplyConfig is the same with a whole new config.

// applyOpts are what a single request says that a config cannot.
type applyOpts struct {
	dryRun bool
	// force removes LUNs that hold tasks (after draining them).
	force bool
	// shrink allows a LUN to get smaller.
	shrink bool
	// grace is how long the sessions of a removed target have to log out.
	grace time.Duration
	// resize names a LUN whose size a ResizeLun sets, even where the config already
	// said that size (its file was larger).
	resize *dispatcher.Key
	// refuseMissing refuses an added LUN whose store is missing (AddLun: the
	// administrator is there to fix it) instead of serving it NOT READY.
	refuseMissing bool
}

// change applies edit, made on a copy of the served config.
func (s *Service) change(ctx context.Context, edit func(raw *pb.Config) error, opts applyOpts) (*plan, error) {
	return s.run(ctx, func(wctx context.Context) (*plan, error) { return s.changeLocked(wctx, edit, opts) })
}

// changeLocked is change run by the holder of the change lock.
func (s *Service) changeLocked(ctx context.Context, edit func(raw *pb.Config) error, opts applyOpts) (*plan, error) {
	if s.system == nil || s.root == nil || s.rootGone.Load() {
		return nil, admin.Busy("the target is stopping")
	}
	next := proto.Clone(s.admin.raw).(*pb.Config)
	if err := edit(next); err != nil {
		return nil, err
	}
	return s.apply(ctx, next, opts)
}

// apply makes the served state match next (as written, without defaults); the caller
// holds the change lock. A change that failed after a step it cannot undo is served
// and saved as far as it went (execute says how far), so that the answers, the
// served state and the file agree.
func (s *Service) apply(ctx context.Context, next *pb.Config, opts applyOpts) (*plan, error) {
	keepSecrets(next, s.admin.raw)
	cfg := ApplyDefaults(overridden(next, s.admin.override))
	if err := s.opts.Validate(cfg); err != nil {
		return nil, admin.Invalid("%v", err)
	}
	if err := loadSecrets(cfg, configDir(s.admin.path)); err != nil {
		return nil, admin.Invalid("%v", err)
	}
	if !opts.dryRun {
		warnSharedSecrets(cfg, s.log)
	}
	p, err := s.diff(s.admin.cfg, cfg, opts)
	if err != nil || opts.dryRun || p.empty() {
		return p, err
	}
	s.created = nil
	fix, err := s.execute(ctx, p, cfg, opts)
	if err != nil && fix == nil {
		s.removeCreated(s.created)
		s.created = nil
		return p, err // undone: nothing changed
	}
	s.created = nil
	if fix != nil {
		fix(next)
		cfg = ApplyDefaults(overridden(next, s.admin.override))
		if lerr := loadSecrets(cfg, configDir(s.admin.path)); lerr != nil {
			s.log.Error("secrets of a partly applied change", "error", lerr)
		}
	}
	s.edit(func() { s.admin.raw, s.admin.cfg = next, cfg })
	// A removed LUN's store stays in the record until a save no longer lists it:
	// after a failed save (or a crash before it) the file still does, and its
	// store, if missing at the next start, must be served NOT READY, not created.
	s.setStoresUnsaved(true)
	s.recordServedStores(cfg)
	s.journalAside()
	if serr := s.save(); serr != nil {
		s.log.Error("a change is served but the config file was not written: the next start will not have it",
			"path", s.admin.path, "changes", p.changes, "error", serr)
		if err != nil {
			return p, admin.Internal("%v; and the config file was not written: %v", err, serr)
		}
		return p, admin.Internal("applied, but the config file was not written: %v", serr)
	}
	s.setStoresUnsaved(false)
	s.recordServedStores(cfg)
	s.finishAside()
	for _, c := range p.changes {
		s.log.Info("admin change", "change", c)
	}
	return p, err
}

// execute carries out a plan in two halves. First what can fail, each step undone
// (in reverse) when a later one fails, so that a failed change changes nothing:
// the new LUNs' backends are opened and their actors spawned, files grow, shrinking
// LUNs report their new capacity and drain, the sessions of removed targets are
// logged out, and the removed LUNs retire (refuse new commands and drain; one that
// refuses or does not drain in time fails the change, and every retired LUN serves
// again). Then the removals end, the new sizes are told and the access rebuilt:
// of these only a shrink's ftruncate can fail; its LUN then keeps its old size, and
// fix writes that into the config to save. A removed LUN whose flush failed makes
// the change's error (fix non-nil: the change itself is made).
func (s *Service) execute(ctx context.Context, p *plan, cfg *pb.Config, opts applyOpts) (fix func(*pb.Config), err error) {
	s.legacyShared = legacySharedBases(cfg)
	var undo []func()
	made := false // the second half began: the change is made
	defer func() {
		// A panic (a backend's open, a wrapper, our own defect) fails the change
		// as an error does: in the first half it is undone, so nothing leaks (an
		// opened backend, its file lock, a spawned actor); in the second the change
		// stands and is saved as made (fix).
		if r := recover(); r != nil {
			s.log.Error("admin change panicked", "panic", r, "stack", string(debug.Stack()), "change_made", made)
			if made {
				fix, err = func(*pb.Config) {}, admin.Internal("admin change: %v (after the change was made: it is served and saved)", r)
			} else {
				err = admin.Internal("admin change: %v (nothing was applied)", r)
			}
		}
		if err != nil && fix == nil {
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
		}
	}()
	var specs []lunSpec
	s.edit(func() {
		s.removing = p.removeLUNs // for openLUN's error: a store the change itself frees
		defer func() { s.removing = nil }()
		specs, err = s.openAdded(p, !opts.refuseMissing)
	})
	if err != nil {
		return nil, admin.Invalid("%v", err)
	}
	undo = append(undo, func() { s.edit(func() { s.dropLUNs(specs) }) })
	for _, sp := range specs {
		if m := s.missing[sp.key]; sp.missing != nil && m != nil {
			p.say("%s: its store %s is missing; it answers NOT READY until it is there",
				lunLabel(m.set.name, m.set.initiator, sp.key.LUN), m.path)
		}
	}
	grows, shrinks := s.splitResizes(p)
	for _, r := range grows {
		u, err := s.growFile(r)
		if err != nil {
			return nil, err
		}
		undo = append(undo, u)
	}
	if len(specs) > 0 {
		undo = append(undo, func() { s.unspawn(specs) })
		if err := s.spawn(ctx, specs); err != nil {
			return nil, admin.Internal("%v (nothing was applied)", err)
		}
	}
	for _, r := range shrinks {
		u, err := s.cutCapacity(ctx, r)
		if u != nil {
			undo = append(undo, u)
		}
		if err != nil {
			return nil, err
		}
	}
	if len(p.removeTargets) > 0 {
		// No new login to a removed target, then its sessions are asked to leave.
		s.access.set(buildAccess(withoutTargets(s.admin.cfg, p.removeTargets)))
		undo = append(undo, func() { s.access.set(buildAccess(s.admin.cfg)) })
		for _, name := range p.removeTargets {
			asked, closed, err := s.logout(ctx, 0, name, opts.grace)
			p.loggedOut, p.closed = p.loggedOut+asked, p.closed+closed
			if err != nil {
				return nil, err
			}
		}
	}
	removeLUNs, removeMissing := s.splitMissing(p.removeLUNs)
	retired, err := s.retire(ctx, removeLUNs, opts.force, p.removeTargets)
	undo = append(undo, func() { s.unretire(retired) })
	if err != nil {
		return nil, err
	}
	// The change is made from here on.
	made = true
	var errs []error
	for _, r := range retired {
		p.drained += r.held
	}
	if ferr := s.endLUNs(ctx, retired); ferr != nil {
		errs = append(errs, ferr)
	}
	s.endMissing(removeMissing)
	for _, r := range grows {
		s.tellSize(ctx, r)
	}
	var kept []resizeStep
	for _, r := range shrinks {
		if serr := s.shrinkFile(r); serr != nil {
			kept = append(kept, r)
			errs = append(errs, serr)
		}
	}
	for _, f := range p.faults {
		if lv := s.live[f.key]; lv != nil { // a missing LUN takes them from the config when it comes online
			lv.faults.Set(lunFaults(f.faults))
		}
	}
	// Logins see the new config: access lists, CHAP, and which initiators have
	// LUNs of their own (their route).
	s.access.set(buildAccess(cfg))
	for route := range p.touched {
		for k, pid := range s.routes.Load() {
			if k.Target == route {
				s.system.Root.Send(pid, &lun.UnitAttention{Sense: scsi.ReportedLUNsChanged()})
			}
		}
	}
	if len(errs) == 0 {
		return nil, nil
	}
	old := s.admin.raw
	fix = func(next *pb.Config) {
		for _, r := range kept {
			lv := s.live[r.key]
			was, _ := rawLUN(old, lv.set.name, lv.set.initiator, r.key.LUN)
			if l, err := rawLUN(next, lv.set.name, lv.set.initiator, r.key.LUN); err == nil && was != nil {
				l.SizeBytes = was.SizeBytes
			}
		}
	}
	if len(kept) > 0 && len(kept) == len(p.changes) && len(errs) == len(kept) {
		return fix, admin.Internal("%v (nothing was applied)", errors.Join(errs...))
	}
	if len(kept) > 0 {
		return fix, partly(errors.Join(errs...), "every step but the shrinks that failed, whose LUNs keep their size")
	}
	return fix, admin.Internal("applied, but %v", errors.Join(errs...))
}

// openAdded opens the backends of the plan's new LUNs; on failure it closes those it
// opened. The caller holds the read guard for writing.
func (s *Service) openAdded(p *plan, missingOK bool) (specs []lunSpec, err error) {
	for _, a := range p.addLUNs {
		tg := s.lunSet(a.name, a.initiator, a.route)
		tg.ports = a.ports
		l := proto.Clone(a.lun).(*pb.Lun)
		drop := func() {
			s.dropLUNs(specs)
			s.forgetFailedOpen(dispatcher.Key{Target: a.route, LUN: a.lun.Id}, l)
		}
		sp, err := func() (sp lunSpec, err error) {
			defer func() { // a panic drops what was opened, then goes on (execute recovers it)
				if r := recover(); r != nil {
					drop()
					panic(r)
				}
			}()
			return s.openOrMissing(a.field, s.admin.cfg.DataDir, tg, l, s.admin.wrap, missingOK)
		}()
		if err != nil {
			drop()
			return nil, err
		}
		specs = append(specs, sp)
	}
	return specs, nil
}

// dropLUNs forgets and closes LUNs opened but never spawned; the caller holds the
// read guard for writing.
func (s *Service) dropLUNs(specs []lunSpec) {
	for _, sp := range specs {
		if sp.missing != nil {
			if m := s.missing[sp.key]; m != nil {
				s.forgetMissing(m)
			}
			continue
		}
		s.forget(sp.live)
	}
}

// forget drops a LUN from the service's lists and its set, and closes its backend;
// the caller holds the read guard for writing.
func (s *Service) forget(lv *liveLUN) {
	delete(s.live, lv.key)
	lv.set.dropID(lv.key.LUN)
	lv.set.setCopyTarget(lv.naa, nil)
	s.luns = slices.DeleteFunc(s.luns, func(i LUNInfo) bool { return i.Faults == lv.faults })
	s.served = slices.DeleteFunc(s.served, func(sl servedLUN) bool { return sl.b == lv.served })
	s.backends = slices.DeleteFunc(s.backends, func(b backend.Backend) bool { return b == lv.raw })
	s.metrics.Remove(lv.key.Target, lv.key.LUN)
	lv.faults.Clear()
	if lv.pr != nil {
		lv.pr.Close()
	}
	if lv.gateway != nil {
		lv.gateway.Close()
	}
	lv.raw.Close()
}

// withoutTargets is cfg without the named targets.
func withoutTargets(cfg *pb.Config, names []string) *pb.Config {
	c := proto.Clone(cfg).(*pb.Config)
	c.Targets = slices.DeleteFunc(c.Targets, func(t *pb.Target) bool { return slices.Contains(names, t.Name) })
	return c
}

// keepSecrets gives a CHAP credential of next that names no secret (GetConfig leaves
// them out) the secret of the same credential in the served config.
func keepSecrets(next, served *pb.Config) {
	keep := func(n, o *pb.Chap) {
		if n != nil && o != nil && n.Secret == "" && n.SecretFile == "" && n.User == o.User {
			n.Secret, n.SecretFile = o.Secret, o.SecretFile
		}
	}
	keep(next.DiscoveryChap, served.DiscoveryChap)
	keep(next.DiscoveryMutualChap, served.DiscoveryMutualChap)
	old := map[string]*pb.Target{}
	for _, t := range served.Targets {
		old[t.Name] = t
	}
	for _, t := range next.Targets {
		if o, ok := old[t.Name]; ok {
			keep(t.Chap, o.Chap)
			keep(t.MutualChap, o.MutualChap)
			for _, ic := range t.InitiatorChap {
				for _, oc := range o.InitiatorChap {
					if oc.Initiator == ic.Initiator {
						keep(ic.Chap, oc.Chap)
						keep(ic.MutualChap, oc.MutualChap)
					}
				}
			}
		}
	}
}

// targetIn returns the target named name in cfg, or nil.
func targetIn(cfg *pb.Config, name string) *pb.Target {
	for _, t := range cfg.Targets {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// lunsIn returns the list of LUNs of target t that initiator sees as its own (its
// initiator_luns entry), or the target's shared LUNs when initiator is "".
func lunsIn(t *pb.Target, initiator string) (*[]*pb.Lun, error) {
	if initiator == "" {
		return &t.Luns, nil
	}
	for _, il := range t.InitiatorLuns {
		if il.Initiator == initiator {
			return &il.Luns, nil
		}
	}
	return nil, admin.NotFound("target %s: initiator %s has no LUNs of its own", t.Name, initiator)
}
