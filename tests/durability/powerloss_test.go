package durability

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"

	"github.com/atgt/atgt/backend"
)

// Defaults of TestDurabilityPowerLoss; ATGT_DURABILITY_ROUNDS and ATGT_DURABILITY_SEED
// (one round, to replay a failure) override them.
const (
	defaultRounds = 50
	// baseSeed makes the default run reproducible: round i uses baseSeed+i.
	baseSeed = 0xA7617_0000
	// cyclesPerRound: each round powers the LUN up, loads it, cuts the power and
	// restarts on what survived this many times, so later cycles run on data that
	// already went through a power loss.
	cyclesPerRound = 2
)

// cut is how a cycle loses power.
type cut int

const (
	// cutArmed strikes inside the n-th backend write or sync (the command in
	// progress fails, a write may be torn).
	cutArmed cut = iota
	// cutBetween strikes between two batches.
	cutBetween
	// cutAtEnd strikes after the whole workload.
	cutAtEnd
)

// roundParams is everything a round does, derived from its seed.
type roundParams struct {
	seed     uint64
	sim      backend.CrashSimOptions
	sessions int
	batches  int
	// onlyCut forces the way the power is cut (the negative control); -1 draws it.
	onlyCut cut
	wrap    wrapSim
	// policy is the LUN's io_policy ("" = the default).
	policy string
}

// paramsFor draws a round's parameters from its seed.
func paramsFor(seed uint64) roundParams {
	rng := rand.New(rand.NewPCG(seed, 1))
	return roundParams{
		seed: seed,
		sim: backend.CrashSimOptions{
			BlockSize:     blockSize,
			CacheSurvival: []float64{0, 0, 0.3, 0.7, 1}[rng.IntN(5)],
			Tear:          rng.IntN(2) == 0,
		},
		sessions: 1 + rng.IntN(3),
		batches:  20 + rng.IntN(40),
		onlyCut:  -1,
		wrap:     honest,
	}
}

// roundResult is what a round found.
type roundResult struct {
	violations []violation
	stats      checkStats
	stableAcks int
	strikes    int // armed power losses that struck inside a command
	torn       int // writes that landed in part
}

// runRound runs the cycles of one round. Infrastructure failures (login, stop,
// a target that cannot read back what its backend holds) fail the test; durability
// violations are returned, so that the negative control can expect them.
func runRound(t *testing.T, p roundParams) roundResult {
	rng := rand.New(rand.NewPCG(p.seed, 2))
	var res roundResult
	// The disk starts with old random data, so a block zeroed from nowhere shows.
	img := randomBytes(rng, lunBytes)
	pw := powerUp(t, img, p.sim, p.wrap, p.sessions, p.policy)
	for cycle := range cyclesPerRound {
		m := newModel(img)
		wce, err := pw.sessions[0].ModeSenseWCE(0)
		if err != nil {
			t.Fatalf("cycle %d: MODE SENSE: %v", cycle, err)
		}
		d := &driver{m: m, sessions: pw.sessions, wceOff: !wce, label: fmt.Sprintf("cycle %d", cycle)}
		work := plan(rng, p.batches, p.sessions)
		how := p.onlyCut
		if how < 0 {
			how = cut(rng.IntN(3))
		}
		cutAfter := len(work) // cutBetween: after this many batches
		switch how {
		case cutArmed:
			calls := 0
			for _, b := range work {
				for _, o := range b {
					if o.kind != opWCE {
						calls++
					}
				}
			}
			pw.sim.ArmPowerLoss(1+rng.IntN(max(calls, 1)), rand.New(rand.NewPCG(rng.Uint64(), 3)))
		case cutBetween:
			cutAfter = rng.IntN(len(work) + 1)
		}
		ran := 0
		for bi, b := range work {
			if bi == cutAfter || pw.sim.PoweredOff() {
				break
			}
			d.run(bi, b)
			ran++
		}
		if !pw.sim.PoweredOff() {
			pw.sim.PowerLoss(rand.New(rand.NewPCG(rng.Uint64(), 4)))
		}
		rep, _ := pw.sim.LastPowerLoss()
		if rep.InFlight {
			res.strikes++
			if rep.InFlightLanded > 0 && rep.InFlightLanded < rep.InFlightBlocks {
				res.torn++
			}
		}
		res.torn += rep.TornWrites
		pw.stop(t)

		survived := pw.sim.Surviving()
		pw = powerUp(t, survived, p.sim, p.wrap, p.sessions, p.policy)
		got := pw.readAll(t)
		if !bytes.Equal(got, survived) {
			t.Fatalf("cycle %d: the restarted target reads something other than its backend holds", cycle)
		}
		vs, st := m.check(got)
		t.Logf("cycle %d: %s, %d batches run, %d commands acknowledged, %d failed, %d writes acknowledged stable; power loss %+v; check: %d violations, %+v",
			cycle, how, ran, d.acked, d.failed, m.stableAcks, rep, len(vs), st)
		for _, f := range d.oddFailures {
			t.Errorf("a command failed other than with MEDIUM ERROR: %s", f)
		}
		res.violations = append(res.violations, vs...)
		res.stats.add(st)
		res.stableAcks += m.stableAcks
		img = got
	}
	pw.stop(t)
	return res
}

func (c cut) String() string {
	return [...]string{"armed power loss", "power loss between batches", "power loss at the end"}[c]
}

// envUint reads an unsigned number from the environment (def if unset).
func envUint(t *testing.T, name string, def uint64) (uint64, bool) {
	v := os.Getenv(name)
	if v == "" {
		return def, false
	}
	n, err := strconv.ParseUint(v, 0, 64)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, v, err)
	}
	return n, true
}

// TestDurabilityPowerLoss is the durability proof: over seeded rounds of random writes, FUA
// writes, deallocations, SYNCHRONIZE CACHE and WCE flips from several sessions, cut at random points
// (inside a command, between commands, at the end) with random cache survival and
// torn writes, every block read back after the restart holds exactly its last
// acknowledged-stable content or a content written after it. Each round logs its
// seed; ATGT_DURABILITY_SEED=<seed> replays one.
func TestDurabilityPowerLoss(t *testing.T) {
	rounds, _ := envUint(t, "ATGT_DURABILITY_ROUNDS", defaultRounds)
	seeds := make([]uint64, rounds)
	for i := range seeds {
		seeds[i] = baseSeed + uint64(i)
	}
	only, replay := envUint(t, "ATGT_DURABILITY_SEED", 0)
	if replay {
		seeds = []uint64{only}
	}
	var total roundResult
	for _, seed := range seeds {
		p := paramsFor(seed)
		t.Run(fmt.Sprintf("seed=%#x", seed), func(t *testing.T) {
			t.Logf("seed %#x (replay: ATGT_DURABILITY_SEED=%#x): %d sessions, %d batches, cache survival %.1f, tear %v",
				seed, seed, p.sessions, p.batches, p.sim.CacheSurvival, p.sim.Tear)
			r := runRound(t, p)
			for i, v := range r.violations {
				if i == 10 {
					t.Errorf("... and %d more", len(r.violations)-10)
					break
				}
				t.Errorf("%v", v)
			}
			total.stats.add(r.stats)
			total.stableAcks += r.stableAcks
			total.strikes += r.strikes
			total.torn += r.torn
		})
	}
	t.Logf("%d rounds: %d writes acknowledged stable, %d blocks pinned to one, %d blocks legitimately reverted, %d blocks newer than their floor, %d power losses inside a command, %d torn writes",
		len(seeds), total.stableAcks, total.stats.pinned, total.stats.reverted, total.stats.later, total.strikes, total.torn)
	// Not vacuous: across the default run, stable data was really checked, unstable
	// data was really lost, and commands were really cut.
	if len(seeds) >= 20 && (total.stats.pinned == 0 || total.stats.reverted == 0 || total.strikes == 0 || total.torn == 0) {
		t.Errorf("the rounds exercised too little: %+v", total)
	}
}

// forgetful is a broken backend, like a target that lies about its cache: it
// acknowledges stable writes without making them stable (ignoreStable, a target that
// forgot RWF_DSYNC), or syncs without syncing (ignoreSync, one that forgot fdatasync).
type forgetful struct {
	*backend.CrashSim
	ignoreStable, ignoreSync bool
}

// WriteAt drops the stable flag if told to.
func (f forgetful) WriteAt(p []byte, off int64, stable bool) error {
	return f.CrashSim.WriteAt(p, off, stable && !f.ignoreStable)
}

// Sync does nothing and succeeds if told to.
func (f forgetful) Sync() error {
	if f.ignoreSync {
		return nil
	}
	return f.CrashSim.Sync()
}

// TestDurabilityBrokenBackendIsCaught is the negative control: rounds that pass on the honest
// simulator fail on a backend that ignores stable writes, syncs, or both, so the check
// above can fail and would catch a target that acknowledges too early on either path.
func TestDurabilityBrokenBackendIsCaught(t *testing.T) {
	for i, tc := range []struct {
		name                     string
		ignoreStable, ignoreSync bool
	}{
		{"ignores stable writes and syncs", true, true},
		{"ignores stable writes", true, false},
		{"ignores syncs", false, true},
	} {
		seed := uint64(baseSeed + 1000 + i)
		t.Run(fmt.Sprintf("%s/seed=%#x", tc.name, seed), func(t *testing.T) {
			p := paramsFor(seed)
			p.sim.CacheSurvival, p.sim.Tear, p.onlyCut = 0, false, cutAtEnd
			t.Logf("seed %#x: %d sessions, %d batches", seed, p.sessions, p.batches)
			good := runRound(t, p)
			if len(good.violations) != 0 {
				t.Fatalf("honest backend: %d violations, first %v", len(good.violations), good.violations[0])
			}
			p.wrap = func(c *backend.CrashSim) backend.Backend {
				return forgetful{CrashSim: c, ignoreStable: tc.ignoreStable, ignoreSync: tc.ignoreSync}
			}
			bad := runRound(t, p)
			lost := 0
			for _, v := range bad.violations {
				if v.kind == "lost-stable" {
					lost++
				}
			}
			t.Logf("broken backend: %d writes acknowledged stable, %d violations (%d lost-stable), first: %v", bad.stableAcks, len(bad.violations), lost, bad.violations[:min(1, len(bad.violations))])
			if bad.stableAcks == 0 || lost == 0 {
				t.Fatalf("the checker did not catch a backend that %s (%d writes acknowledged stable, violations %v)", tc.name, bad.stableAcks, bad.violations)
			}
		})
	}
}
