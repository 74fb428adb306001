package target

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/atgt/atgt/actors/admin"
	"github.com/atgt/atgt/actors/dispatcher"
	"github.com/atgt/atgt/actors/lun"
	"github.com/atgt/atgt/actors/scsidev"
	"github.com/atgt/atgt/backend"
)

// The steps execute runs: those before the point of no return give the step that
// undoes them.

// routeSettle is how long a removed LUN's actor keeps its mailbox open after its
// route is gone. A session or the dispatcher sends a task right after reading the
// route table (in the same message, with no wait between), so a task routed with the
// old table is in the mailbox well within it; the retired LUN answers it (LOGICAL
// UNIT NOT SUPPORTED), and the stop (a Poison, queued behind it) comes after.
const routeSettle = 100 * time.Millisecond

// splitResizes sorts the plan's resizes into growths and shrinks.
func (s *Service) splitResizes(p *plan) (grows, shrinks []resizeStep) {
	for _, r := range p.resizes {
		if r.size > s.live[r.key].served.Size() {
			grows = append(grows, r)
		} else {
			shrinks = append(shrinks, r)
		}
	}
	return grows, shrinks
}

// growFile grows a LUN's file (the LUN reports the new size later, tellSize); undo
// gives the file its size back, which nothing wrote past.
func (s *Service) growFile(r resizeStep) (undo func(), err error) {
	lv := s.live[r.key]
	rz, ok := lv.raw.(backend.Resizer)
	if !ok {
		return nil, admin.Busy("%s.sizeBytes: this LUN's backend cannot be resized (nothing was applied)", r.field)
	}
	old := lv.served.Size()
	if err := rz.Resize(r.size); err != nil {
		return nil, admin.Internal("%s.sizeBytes: growing %s to %d bytes: %v (nothing was applied)",
			r.field, lunLabel(lv.set.name, lv.set.initiator, r.key.LUN), r.size, err)
	}
	return func() {
		if err := rz.Resize(old); err != nil {
			s.log.Error("undoing a growth", "lun", r.key.LUN, "target", r.key.Target, "error", err)
		}
	}, nil
}

// tellSize tells a grown LUN its new capacity.
func (s *Service) tellSize(ctx context.Context, r resizeStep) {
	lv := s.live[r.key]
	blocks := uint64(r.size) / uint64(lv.blockSize)
	if pid := s.routes.Lookup(r.key.Target, r.key.LUN); pid != nil {
		done := make(chan struct{}, 1)
		s.system.Root.Send(pid, &lun.Resize{Blocks: blocks, Done: func() { done <- struct{}{} }})
		if _, err := wait(ctx, done, "resize"); err != nil {
			s.log.Warn("a grown LUN did not confirm its capacity", "lun", r.key.LUN, "target", r.key.Target, "error", err)
		}
	}
	lv.set.setCopyTarget(lv.naa, &scsidev.CopyTarget{BlockSize: lv.blockSize, Blocks: blocks, ReadOnly: lv.readOnly})
}

// cutCapacity makes a shrinking LUN report its new capacity and waits for the IO
// it holds (which may write past the new end); its file is cut later (shrinkFile).
// undo gives the LUN its capacity back, whose blocks are all still there.
func (s *Service) cutCapacity(ctx context.Context, r resizeStep) (undo func(), err error) {
	lv := s.live[r.key]
	pid := s.routes.Lookup(r.key.Target, r.key.LUN)
	if pid == nil {
		return nil, admin.Busy("%s: cannot be resized (nothing was applied)", lunLabel(lv.set.name, lv.set.initiator, r.key.LUN))
	}
	oldBlocks := uint64(lv.served.Size()) / uint64(lv.blockSize)
	done := make(chan struct{}, 1)
	s.system.Root.Send(pid, &lun.Resize{Blocks: uint64(r.size) / uint64(lv.blockSize), Done: func() { done <- struct{}{} }})
	undo = func() { s.system.Root.Send(pid, &lun.Resize{Blocks: oldBlocks, Done: func() {}}) }
	if _, err := wait(ctx, done, "resize"); err != nil {
		return undo, err
	}
	drained := make(chan struct{}, 1)
	s.system.Root.Send(pid, &lun.Drain{Done: func() { drained <- struct{}{} }})
	_, err = wait(ctx, drained, "drain before shrink")
	return undo, err
}

// shrinkFile cuts a shrunk LUN's file; when that fails the LUN reports its old
// capacity again (its blocks are all there) and the error names the field.
func (s *Service) shrinkFile(r resizeStep) error {
	lv := s.live[r.key]
	old := lv.served.Size()
	if err := lv.raw.(backend.Resizer).Resize(r.size); err != nil {
		if pid := s.routes.Lookup(r.key.Target, r.key.LUN); pid != nil {
			s.system.Root.Send(pid, &lun.Resize{Blocks: uint64(old) / uint64(lv.blockSize), Done: func() {}})
		}
		return fmt.Errorf("%s.sizeBytes: shrinking %s to %d bytes: %w (it keeps its %d bytes)",
			r.field, lunLabel(lv.set.name, lv.set.initiator, r.key.LUN), r.size, err, old)
	}
	lv.set.setCopyTarget(lv.naa, &scsidev.CopyTarget{BlockSize: lv.blockSize, Blocks: uint64(r.size) / uint64(lv.blockSize), ReadOnly: lv.readOnly})
	return nil
}

// spawn asks the root to spawn the added LUNs' actors, which routes them.
func (s *Service) spawn(ctx context.Context, specs []lunSpec) error {
	if s.rootGone.Load() {
		return admin.Busy("the target is stopping")
	}
	ch := make(chan error, 1)
	s.system.Root.Send(s.root, &spawnLUNs{specs: specs, done: func(err error) { ch <- err }})
	werr, err := wait(ctx, ch, "spawn LUNs")
	if err == nil {
		err = werr
	}
	return err
}

// unspawn stops the added LUNs' actors that were spawned and routed.
func (s *Service) unspawn(specs []lunSpec) {
	pids := map[dispatcher.Key]*actor.PID{}
	for _, sp := range specs {
		if pid := s.routes.Lookup(sp.key.Target, sp.key.LUN); pid != nil {
			s.routes.Set(sp.key, nil)
			pids[sp.key] = pid
		}
	}
	if len(pids) > 0 {
		time.Sleep(routeSettle)
	}
	for k, pid := range pids {
		s.poisonLUN(k, pid)
	}
}

// retiring is a LUN asked to retire.
type retiring struct {
	key  dispatcher.Key
	lv   *liveLUN
	pid  *actor.PID
	held int64
}

// recentUse is how long after its last command a LUN of a target that stays counts
// as in use to a removal without force: longer than the pauses of an initiator that
// keeps IO outstanding (its commands on the wire, or it busy with the answers, while
// the target holds none), short enough that a LUN whose initiator stopped using it
// can be removed moments later.
const recentUse = 5 * time.Second

// retire asks the LUNs to retire, all at once, and waits for each to hold no task.
// A LUN that refuses (in use: it holds tasks or had a command within recentUse, and
// force is not set) or does not drain within drainWait fails the call; the LUNs it
// returns are retired (or retiring) either way, for the caller to end, or to
// unretire when the change fails. The LUNs of removedTargets (whose sessions were
// logged out) count as in use only while they hold tasks.
func (s *Service) retire(ctx context.Context, keys []dispatcher.Key, force bool, removedTargets []string) ([]*retiring, error) {
	var todo []*retiring
	for _, k := range keys {
		lv, pid := s.live[k], s.routes.Lookup(k.Target, k.LUN)
		if lv == nil || pid == nil {
			return nil, admin.NotFound("lun %d of %s: not served", k.LUN, k.Target)
		}
		todo = append(todo, &retiring{key: k, lv: lv, pid: pid})
	}
	var sent []*retiring
	answers := make([]chan lun.RetireResult, len(todo))
	for i, r := range todo {
		answers[i] = make(chan lun.RetireResult, 1)
		ch := answers[i]
		recent := recentUse
		if name, _, _ := strings.Cut(r.key.Target, " "); slices.Contains(removedTargets, name) {
			recent = 0
		}
		s.system.Root.Send(r.pid, &lun.Retire{Force: force, Recent: recent, Done: func(res lun.RetireResult) { ch <- res }})
	}
	var err error
	for i, r := range todo {
		label := lunLabel(r.lv.set.name, r.lv.set.initiator, r.key.LUN)
		d := drainWait(r.lv)
		select {
		case res := <-answers[i]:
			if res.Refused {
				err = errors.Join(err, admin.Busy("%s: in use: %s; remove it with force to drain them first (nothing was applied)", label, inUse(res)))
				continue
			}
			r.held = res.Held
		case <-ctx.Done():
			err = errors.Join(err, admin.Internal("%s: drain: %v; the LUN serves again (nothing was applied)", label, ctx.Err()))
		case <-time.After(d):
			err = errors.Join(err, admin.Internal("%s: its tasks did not finish within %v; the LUN serves again (nothing was applied)", label, d))
		}
		sent = append(sent, r)
	}
	return sent, err
}

// inUse says why a LUN refused to retire.
func inUse(res lun.RetireResult) string {
	if res.Since < 0 || res.Since >= recentUse {
		return fmt.Sprintf("%d tasks in flight", res.Held)
	}
	ago := "under 1ms"
	if res.Since >= time.Millisecond {
		ago = res.Since.Round(time.Millisecond).String()
	}
	return fmt.Sprintf("%d tasks in flight, its last command %s ago (a LUN counts as in use for %v after a command)",
		res.Held, ago, recentUse)
}

// drainWait is how long a removal waits for a LUN's tasks: longer than a hung
// backend call takes to be abandoned (io_timeout, checked every quarter of it).
func drainWait(lv *liveLUN) time.Duration {
	abandon := time.Duration(lv.cfg.GetIoTimeout() * 1.25 * float64(time.Second))
	return adminWait + abandon
}

// unretire makes retired LUNs serve again: their removal was given up.
func (s *Service) unretire(rs []*retiring) {
	for _, r := range rs {
		s.system.Root.Send(r.pid, &lun.Unretire{})
	}
}

// endLUNs ends retired LUNs: their routes go, and once the tasks routed to them
// with the old table have reached their mailboxes (routeSettle) their actors stop;
// then each one's writes are flushed, its backend closed, and its state files queued
// to be set aside once the config is saved without it (a LUN added later with its id
// must not inherit its reservations or saved mode pages; stateaside.go). It returns the flushes' failures, the one thing that can go wrong.
func (s *Service) endLUNs(ctx context.Context, rs []*retiring) error {
	if len(rs) == 0 {
		return nil
	}
	for _, r := range rs {
		s.routes.Set(r.key, nil)
	}
	time.Sleep(routeSettle)
	var errs []error
	for _, r := range rs {
		s.poisonLUN(r.key, r.pid)
		if err := s.flushRemoved(ctx, r.lv); err != nil {
			errs = append(errs, err)
		}
		s.edit(func() { s.forget(r.lv) })
		s.queueAside(r.lv.set, r.key.LUN)
		s.log.Info("LUN removed", "target", r.lv.set.name, "lun", r.key.LUN, "drained", r.held)
	}
	return errors.Join(errs...)
}

// poisonLUN stops a LUN actor whose route is gone once it has handled the messages
// queued before (a Poison is a user message behind them, so each is answered; a
// Stop, a system message, would overtake them and leave them unanswered), and
// waits for it.
func (s *Service) poisonLUN(k dispatcher.Key, pid *actor.PID) {
	if err := s.system.Root.PoisonFuture(pid).Wait(); err != nil {
		s.log.Warn("LUN actor did not stop in time", "lun", k.LUN, "target", k.Target, "error", err)
	}
}

// flushRemoved makes the writes a removed LUN acknowledged under WCE=1 durable
// before its backend is closed, as the flush at stop does. The kernel reports a
// writeback error once per descriptor and its sticky record goes with the backend,
// so a failure is the change's error: nothing else will report it. A flush that
// outlasts removedFlushWait (a disk that hangs) or ctx (the target stops) is left to
// finish on its own (Close waits for no call) and reported as not finished, so that
// the change ends and the administrator's next one is not held up behind that disk.
func (s *Service) flushRemoved(ctx context.Context, lv *liveLUN) error {
	done := make(chan error, 1)
	go func() { done <- lv.served.Sync() }()
	label := lunLabel(lv.set.name, lv.set.initiator, lv.key.LUN)
	wait := removedFlushWait(lv)
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case err := <-done:
		if err != nil {
			s.log.Error("flush of a removed LUN failed: writes it acknowledged may be lost",
				"target", lv.set.name, "lun", lv.key.LUN, "error", err)
			return fmt.Errorf("the flush of removed %s failed, writes it acknowledged may be lost: %w", label, err)
		}
		return nil
	case <-timer.C:
		s.log.Error("flush of a removed LUN did not finish in time; closing it anyway: writes it acknowledged may be lost",
			"target", lv.set.name, "lun", lv.key.LUN, "waited", wait)
		return fmt.Errorf("the flush of removed %s did not finish within %v, writes it acknowledged may be lost", label, wait)
	case <-ctx.Done():
		s.log.Error("flush of a removed LUN did not finish; closing it anyway",
			"target", lv.set.name, "lun", lv.key.LUN, "error", ctx.Err())
		return fmt.Errorf("the flush of removed %s did not finish: %w", label, ctx.Err())
	}
}

// removedFlushWait bounds the flush of a removed LUN: as long as the LUN lets a
// backend call run before abandoning it (ioTimeout), or FinalFlushTimeout, as at
// stop, for a LUN that abandons none (ioTimeout 0).
func removedFlushWait(lv *liveLUN) time.Duration {
	if t := lv.cfg.GetIoTimeout(); t > 0 {
		return time.Duration(t * float64(time.Second))
	}
	return FinalFlushTimeout
}

// setStateAside renames the state files (saved reservations and mode pages) that e
// names in dir with a ".removed-<UTC time>" suffix: kept for the administrator, no
// longer loaded by a LUN added with the same id. Only once the config file no longer
// lists the LUN (stateaside.go).
func (s *Service) setStateAside(dir string, e asideEntry) {
	stamp := time.Now().UTC().Format("20060102T150405.000000000Z")
	for _, name := range []func(string, uint64) string{stateFileName, modesFileName} {
		from := filepath.Join(dir, name(e.Base, e.LUN))
		if _, err := os.Lstat(from); err != nil {
			continue
		}
		to := from + ".removed-" + stamp
		if err := os.Rename(from, to); err != nil {
			s.log.Error("state file of a removed LUN not set aside: a LUN added with its id would load it",
				"file", from, "error", err)
			continue
		}
		s.log.Info("state file of a removed LUN set aside", "file", to)
	}
}
