package faults

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/atgt/atgt/backend"
)

// Injector holds one LUN's faults and applies them to the calls and commands it sees.
// The list sits behind an atomic pointer, so a call costs one load and a walk of the
// list; Set and Clear replace it at runtime (the seam for an admin interface) and
// release every call a hang or delay of the old list holds.
type Injector struct {
	cur atomic.Pointer[faultSet]
	// mu serialises Set and Clear, and guards rnd.
	mu  sync.Mutex
	rnd *rand.Rand
	// byKind counts firings since New, across Set and Clear.
	byKind [numKinds]atomic.Uint64
	// held counts the calls a hang or delay holds now.
	held atomic.Int64
	log  hclog.Logger
}

// faultSet is one installed list: its faults, their firing counts, and the channel
// closed when the list is replaced, which releases the calls it holds.
type faultSet struct {
	faults  []Fault
	fired   []atomic.Uint64
	release chan struct{}
}

// Seeded returns the random source an Injector uses for seed (Lun.fault_seed), so
// that a test can foresee which draws fire.
func Seeded(seed uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

// New returns an Injector with no faults. log (nil: none) gets a debug line per
// firing, so it should name the LUN; rnd (nil: randomly seeded) decides the
// probabilities, so a test can seed it.
func New(log hclog.Logger, rnd *rand.Rand) *Injector {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	if rnd == nil {
		rnd = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	i := &Injector{rnd: rnd, log: log}
	i.cur.Store(&faultSet{release: make(chan struct{})})
	return i
}

// Set replaces the faults with fs (copied) and their counts with zeros, releasing
// every call held by a hang or delay of the old list.
func (i *Injector) Set(fs []Fault) {
	s := &faultSet{faults: append([]Fault(nil), fs...), fired: make([]atomic.Uint64, len(fs)),
		release: make(chan struct{})}
	i.mu.Lock()
	defer i.mu.Unlock()
	close(i.cur.Swap(s).release)
}

// Clear removes every fault and releases every held call.
func (i *Injector) Clear() { i.Set(nil) }

// Faults returns a copy of the current faults.
func (i *Injector) Faults() []Fault { return append([]Fault(nil), i.cur.Load().faults...) }

// Fired returns how many times each current fault has fired, in list order.
func (i *Injector) Fired() []uint64 {
	s := i.cur.Load()
	out := make([]uint64, len(s.fired))
	for k := range s.fired {
		out[k] = s.fired[k].Load()
	}
	return out
}

// FiredByKind returns the firings of each kind since New, including those of
// faults since replaced: the figures a chaos run reports.
func (i *Injector) FiredByKind() map[Kind]uint64 {
	out := map[Kind]uint64{}
	for k := Error; k < numKinds; k++ {
		if n := i.byKind[k].Load(); n > 0 {
			out[k] = n
		}
	}
	return out
}

// Held returns how many calls a hang or delay holds now, so that a test can wait
// until a call hangs and check that Clear let it go.
func (i *Injector) Held() int { return int(i.held.Load()) }

// Command is the LUN actor's hook: it panics with a *backend.InjectedPanic when a
// LUNPanic fault fires for a command whose IO does ops over [off, off+n) (n 0: no
// range). Other kinds are left to the backend calls.
func (i *Injector) Command(ops Op, off, n int64) {
	s := i.cur.Load()
	for k := range s.faults {
		f := &s.faults[k]
		if f.Kind != LUNPanic || !f.matches(ops, off, n) || !i.fire(s, k, ops, off, n) {
			continue
		}
		panic(&backend.InjectedPanic{Op: "lun " + ops.String(), Off: off, Err: injected(k, f)})
	}
}

// call applies the faults to one backend call of op over [off, off+n): delays and
// hangs wait, an error is returned, a panic panics. A call a hang or delay held stops
// consulting the faults once Set or Clear released it.
func (i *Injector) call(op Op, off, n int64) error {
	s := i.cur.Load()
	for k := range s.faults {
		f := &s.faults[k]
		if f.Kind == LUNPanic || !f.matches(op, off, n) || !i.fire(s, k, op, off, n) {
			continue
		}
		switch f.Kind {
		case Error:
			return injected(k, f)
		case Panic:
			panic(&backend.InjectedPanic{Op: op.String(), Off: off, Err: injected(k, f)})
		case Hang, Delay:
			if !i.hold(s, f.Delay) {
				return nil
			}
		}
	}
	return nil
}

// fire decides whether fault k of s fires now (its probability, then its count),
// and counts and logs it if so.
func (i *Injector) fire(s *faultSet, k int, op Op, off, n int64) bool {
	f := &s.faults[k]
	if f.Probability < 1 {
		if f.Probability <= 0 {
			return false
		}
		i.mu.Lock()
		r := i.rnd.Float64()
		i.mu.Unlock()
		if r >= f.Probability {
			return false
		}
	}
	for {
		c := s.fired[k].Load()
		if f.Count > 0 && c >= f.Count {
			return false
		}
		if s.fired[k].CompareAndSwap(c, c+1) {
			break
		}
	}
	i.byKind[f.Kind].Add(1)
	if i.log.IsDebug() {
		i.log.Debug("fault fired", "fault", k, "kind", f.Kind, "op", op, "offset", off, "length", n)
	}
	return true
}

// hold waits for d (0: for ever) or until s is replaced, and reports whether it
// waited the whole time (false: released).
func (i *Injector) hold(s *faultSet, d time.Duration) bool {
	i.held.Add(1)
	defer i.held.Add(-1)
	if d <= 0 {
		<-s.release
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-s.release:
		return false
	case <-t.C:
		return true
	}
}

// injected is the error an Error fault returns (and a panic carries).
func injected(k int, f *Fault) error {
	return fmt.Errorf("%w %d (%s)", ErrInjected, k, f)
}
