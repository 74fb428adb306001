package target

import (
	"context"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/atgt/atgt/actors/admin"
	"github.com/atgt/atgt/actors/dispatcher"
	"github.com/atgt/atgt/actors/lun"
	"github.com/atgt/atgt/actors/scsidev"
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
}

// change applies edit, made on a copy of the served config.
func (s *Service) change(ctx context.Context, edit func(raw *pb.Config) error, opts applyOpts) (*plan, error) {
	s.admin.mu.Lock()
	defer s.admin.mu.Unlock()
	if s.system == nil || s.root == nil {
		return nil, admin.Busy("the target is stopping")
	}
	next := proto.Clone(s.admin.raw).(*pb.Config)
	if err := edit(next); err != nil {
		return nil, err
	}
	return s.apply(ctx, next, opts)
}

// apply makes the served state match next (as written, without defaults); the caller
// holds the lock.
func (s *Service) apply(ctx context.Context, next *pb.Config, opts applyOpts) (*plan, error) {
	keepSecrets(next, s.admin.raw)
	cfg := ApplyDefaults(overridden(next, s.admin.override))
	if err := s.opts.Validate(cfg); err != nil {
		return nil, admin.Invalid("%v", err)
	}
	if err := loadSecrets(cfg); err != nil {
		return nil, admin.Invalid("%v", err)
	}
	if !opts.dryRun {
		warnSharedSecrets(cfg, s.log)
	}
	p, err := s.diff(s.admin.cfg, cfg, opts)
	if err != nil || opts.dryRun || p.empty() {
		return p, err
	}
	if err := s.execute(ctx, p, cfg, opts); err != nil {
		return p, err
	}
	s.admin.raw, s.admin.cfg = next, cfg
	if err := s.save(); err != nil {
		return p, admin.Internal("applied, but the config file was not written: %v", err)
	}
	for _, c := range p.changes {
		s.log.Info("admin change", "change", c)
	}
	return p, nil
}

// execute carries out a plan: it opens the new LUNs' backends first (a LUN that
// cannot be opened fails the change before anything else changed), then ends what
// is removed, then serves what is added and changes the rest.
func (s *Service) execute(ctx context.Context, p *plan, cfg *pb.Config, opts applyOpts) error {
	s.legacyShared = legacySharedBases(cfg)
	specs, err := s.openAdded(p)
	if err != nil {
		return admin.Invalid("%v", err)
	}
	if len(p.removeTargets) > 0 {
		// No new login to a removed target, then its sessions are asked to leave.
		s.access.set(buildAccess(withoutTargets(s.admin.cfg, p.removeTargets)))
		for _, name := range p.removeTargets {
			if _, _, err := s.logout(ctx, 0, name, opts.grace); err != nil {
				return err
			}
		}
	}
	for _, k := range p.removeLUNs {
		if err := s.removeLUN(ctx, k, opts.force); err != nil {
			s.dropLUNs(specs)
			return err
		}
	}
	if len(specs) > 0 {
		ch := make(chan error, 1)
		s.system.Root.Send(s.root, &spawnLUNs{specs: specs, done: func(err error) { ch <- err }})
		werr, err := wait(ctx, ch, "spawn LUNs")
		if err == nil {
			err = werr
		}
		if err != nil {
			return admin.Internal("%v", err)
		}
	}
	for _, r := range p.resizes {
		if err := s.resize(ctx, r); err != nil {
			return err
		}
	}
	for _, f := range p.faults {
		s.live[f.key].faults.Set(lunFaults(f.faults))
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
	return nil
}

// openAdded opens the backends of the plan's new LUNs; on failure it closes those it
// opened.
func (s *Service) openAdded(p *plan) ([]lunSpec, error) {
	var specs []lunSpec
	for _, a := range p.addLUNs {
		tg := s.lunSet(a.name, a.initiator, a.route)
		tg.ports = a.ports
		l := proto.Clone(a.lun).(*pb.Lun)
		sp, err := s.openLUN(a.field, s.admin.cfg.DataDir, tg, l, s.admin.wrap)
		if err != nil {
			s.dropLUNs(specs)
			if lv := s.live[dispatcher.Key{Target: a.route, LUN: a.lun.Id}]; lv != nil && lv.cfg == l {
				s.forget(lv) // opened, then failed a later check
			}
			return nil, err
		}
		specs = append(specs, sp)
	}
	return specs, nil
}

// dropLUNs forgets and closes LUNs opened but never spawned.
func (s *Service) dropLUNs(specs []lunSpec) {
	for _, sp := range specs {
		s.forget(sp.live)
	}
}

// removeLUN takes a LUN out of service: without force one that holds tasks is
// refused; otherwise its route goes, it drains, its actor stops and its backend is
// closed.
func (s *Service) removeLUN(ctx context.Context, k dispatcher.Key, force bool) error {
	lv := s.live[k]
	pid := s.routes.Lookup(k.Target, k.LUN)
	if lv == nil || pid == nil {
		return admin.NotFound("lun %d of %s: not served", k.LUN, k.Target)
	}
	ch := make(chan lun.RetireResult, 1)
	s.system.Root.Send(pid, &lun.Retire{Force: force, Done: func(r lun.RetireResult) { ch <- r }})
	r, err := wait(ctx, ch, "retire LUN")
	if err != nil {
		return err
	}
	if r.Refused {
		return admin.Busy("%s: %d tasks in flight; remove it with force to drain them first", lunLabel(lv.set.name, lv.set.initiator, k.LUN), r.Held)
	}
	s.routes.Set(k, nil)
	if err := s.system.Root.StopFuture(pid).Wait(); err != nil {
		s.log.Warn("LUN actor did not stop in time", "lun", k.LUN, "target", k.Target, "error", err)
	}
	s.flushRemoved(ctx, lv)
	s.forget(lv)
	s.log.Info("LUN removed", "target", lv.set.name, "lun", k.LUN, "drained", r.Held)
	return nil
}

// flushRemoved makes the writes a removed LUN acknowledged under WCE=1 durable
// before its backend is closed, as the flush at stop does. The kernel reports a
// writeback error once per descriptor and its sticky record goes with the backend,
// so a failure here is logged as an error: nothing else will report it. A flush
// that outlasts ctx is left to finish on its own (Close waits for no call).
func (s *Service) flushRemoved(ctx context.Context, lv *liveLUN) {
	done := make(chan error, 1)
	go func() { done <- lv.served.Sync() }()
	select {
	case err := <-done:
		if err != nil {
			s.log.Error("flush of a removed LUN failed: writes it acknowledged may be lost",
				"target", lv.set.name, "lun", lv.key.LUN, "error", err)
		}
	case <-ctx.Done():
		s.log.Error("flush of a removed LUN did not finish; closing it anyway",
			"target", lv.set.name, "lun", lv.key.LUN, "error", ctx.Err())
	}
}

// forget drops a LUN from the service's lists and its set, and closes its backend.
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

// resize grows a backend, then tells the LUN; or, to shrink, tells the LUN, waits
// for the IO it holds, then shrinks the backend.
func (s *Service) resize(ctx context.Context, r resizeStep) error {
	lv := s.live[r.key]
	pid := s.routes.Lookup(r.key.Target, r.key.LUN)
	rz, ok := lv.raw.(backend.Resizer)
	if !ok || pid == nil {
		return admin.Busy("%s: cannot be resized", lunLabel(lv.set.name, lv.set.initiator, r.key.LUN))
	}
	grow := r.size > lv.served.Size()
	if grow {
		if err := rz.Resize(r.size); err != nil {
			return admin.Internal("%s: %v", lunLabel(lv.set.name, lv.set.initiator, r.key.LUN), err)
		}
	}
	blocks := uint64(r.size) / uint64(lv.blockSize)
	done := make(chan struct{}, 1)
	s.system.Root.Send(pid, &lun.Resize{Blocks: blocks, Done: func() { done <- struct{}{} }})
	if _, err := wait(ctx, done, "resize"); err != nil {
		return err
	}
	if !grow {
		drained := make(chan struct{}, 1)
		s.system.Root.Send(pid, &lun.Drain{Done: func() { drained <- struct{}{} }})
		if _, err := wait(ctx, drained, "drain before shrink"); err != nil {
			return err
		}
		if err := rz.Resize(r.size); err != nil {
			return admin.Internal("%s: %v", lunLabel(lv.set.name, lv.set.initiator, r.key.LUN), err)
		}
	}
	lv.set.setCopyTarget(lv.naa, &scsidev.CopyTarget{BlockSize: lv.blockSize, Blocks: blocks, ReadOnly: lv.readOnly})
	return nil
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
