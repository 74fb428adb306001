package backend

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"
)

// crashSeed is the seed of a randomized test: $ATGT_CRASHSIM_SEED to replay a run,
// else the clock. It is logged, so a failure can be replayed.
func crashSeed(t *testing.T) uint64 {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("ATGT_CRASHSIM_SEED"); v != "" {
		s, err := strconv.ParseUint(v, 0, 64)
		if err != nil {
			t.Fatalf("ATGT_CRASHSIM_SEED=%q: %v", v, err)
		}
		seed = s
	}
	t.Logf("seed %d (replay with ATGT_CRASHSIM_SEED=%d)", seed, seed)
	return seed
}

// TestCrashSimConformance: powered on, the simulator is a Backend like any other.
func TestCrashSimConformance(t *testing.T) {
	runConformance(t, func(t *testing.T, size int64) Backend {
		return NewCrashSim(size, CrashSimOptions{CacheSurvival: 0.5, Tear: true})
	})
}

// block returns a 512-byte block filled with v.
func block(v byte) []byte { return bytes.Repeat([]byte{v}, 512) }

// wantBlocks checks img block by block against the fill bytes in want.
func wantBlocks(t *testing.T, what string, img []byte, want ...byte) {
	t.Helper()
	for i, v := range want {
		if got := img[i*512 : (i+1)*512]; !bytes.Equal(got, block(v)) {
			t.Errorf("%s: block %d holds %#x..., want %#x", what, i, got[0], v)
		}
	}
}

// TestCrashSimStableAndVolatile: reads see every write, Surviving only stable ones, and
// Sync makes everything stable.
func TestCrashSimStableAndVolatile(t *testing.T) {
	c := NewCrashSim(4*512, CrashSimOptions{})
	mustWrite := func(v byte, blk int64, stable bool) {
		t.Helper()
		if err := c.WriteAt(block(v), blk*512, stable); err != nil {
			t.Fatal(err)
		}
	}
	mustWrite(1, 0, true)
	mustWrite(2, 1, false)
	mustRead(t, c, 0, append(block(1), block(2)...))
	wantBlocks(t, "surviving before sync", c.Surviving(), 1, 0)
	if err := c.Sync(); err != nil {
		t.Fatal(err)
	}
	wantBlocks(t, "surviving after sync", c.Surviving(), 1, 2)
	mustWrite(3, 1, false)
	if err := c.Unmap(0, 512); err != nil {
		t.Fatal(err)
	}
	mustRead(t, c, 0, append(block(0), block(3)...))
	wantBlocks(t, "surviving after cached write and unmap", c.Surviving(), 1, 2)
}

// TestCrashSimPowerLossOrder: a power loss keeps stable writes, drops or keeps cached
// ones as the options say, and never lets an older cached write land over a newer
// stable one.
func TestCrashSimPowerLossOrder(t *testing.T) {
	for _, tc := range []struct {
		survival float64
		want     []byte
	}{
		// Block 0: cached 1, stable 2, cached 3. Block 1: cached 4, stable 5.
		// Block 2: stable 6, cached unmap. Block 3: cached 7 only.
		{0, []byte{2, 5, 6, 0}},
		{1, []byte{3, 5, 0, 7}},
	} {
		c := NewCrashSim(4*512, CrashSimOptions{CacheSurvival: tc.survival})
		for _, w := range []struct {
			v      byte
			blk    int64
			stable bool
		}{{1, 0, false}, {4, 1, false}, {2, 0, true}, {5, 1, true}, {3, 0, false}, {6, 2, true}, {7, 3, false}} {
			if err := c.WriteAt(block(w.v), w.blk*512, w.stable); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.Unmap(2*512, 512); err != nil {
			t.Fatal(err)
		}
		rep := c.PowerLoss(rand.New(rand.NewPCG(1, 2)))
		if rep.CachedWrites != 5 || rep.CachedBlocks != 5 {
			t.Errorf("survival %v: report %+v, want 5 cached writes (one an unmap) of 5 blocks", tc.survival, rep)
		}
		wantBlocks(t, "after power loss", c.Surviving(), tc.want...)
		// Off: everything fails, nothing changes.
		if _, err := c.ReadAt(make([]byte, 512), 0); !errors.Is(err, ErrPowerLoss) {
			t.Errorf("read while off: %v, want ErrPowerLoss", err)
		}
		if err := c.WriteAt(block(9), 0, true); !errors.Is(err, ErrPowerLoss) {
			t.Errorf("write while off: %v, want ErrPowerLoss", err)
		}
		if err := c.Sync(); !errors.Is(err, ErrPowerLoss) {
			t.Errorf("sync while off: %v, want ErrPowerLoss", err)
		}
		if !c.PoweredOff() {
			t.Error("PoweredOff = false after PowerLoss")
		}
		// On again: reads see what survived, and it goes on working.
		c.PowerOn()
		mustRead(t, c, 0, c.Surviving())
		if err := c.WriteAt(block(8), 3*512, false); err != nil {
			t.Fatal(err)
		}
		c.PowerLoss(nil)
		wantBlocks(t, "second power loss drops the new cached write", c.Surviving(), tc.want...)
	}
}

// TestCrashSimArmedTear: an armed power loss strikes during the n-th mutating call; a
// multi-block write in progress lands as a prefix of its blocks, and the call fails.
func TestCrashSimArmedTear(t *testing.T) {
	seed := crashSeed(t)
	rng := rand.New(rand.NewPCG(seed, 7))
	landedSome := map[int]bool{}
	for round := range 40 {
		c := NewCrashSim(16*512, CrashSimOptions{Tear: true})
		if err := c.WriteAt(bytes.Repeat(block(1), 16), 0, false); err != nil {
			t.Fatal(err)
		}
		if err := c.Sync(); err != nil {
			t.Fatal(err)
		}
		c.ArmPowerLoss(2, rand.New(rand.NewPCG(rng.Uint64(), 0)))
		if err := c.WriteAt(block(2), 0, true); err != nil {
			t.Fatalf("round %d: first write after arming: %v", round, err)
		}
		err := c.WriteAt(bytes.Repeat(block(3), 8), 4*512, true)
		if !errors.Is(err, ErrPowerLoss) {
			t.Fatalf("round %d: second write: %v, want ErrPowerLoss", round, err)
		}
		rep, n := c.LastPowerLoss()
		if !rep.InFlight || rep.InFlightBlocks != 8 || n != 1 {
			t.Fatalf("round %d: report %+v (%d outages), want an in-flight 8-block write", round, rep, n)
		}
		want := []byte{2, 1, 1, 1}
		for i := range 8 {
			v := byte(1)
			if i < rep.InFlightLanded {
				v = 3
			}
			want = append(want, v)
		}
		wantBlocks(t, "after torn write", c.Surviving(), append(want, 1, 1, 1, 1)...)
		landedSome[rep.InFlightLanded] = true
	}
	if len(landedSome) < 3 {
		t.Errorf("40 torn writes landed only %v blocks: tearing is not random", landedSome)
	}
}

// TestCrashSimRandomSurvivors is the simulator's core property over seeded random
// histories: after a power loss every block holds its last stable content or a
// content written after it, never anything else, and with CacheSurvival 0 and no
// tearing exactly its last stable content.
func TestCrashSimRandomSurvivors(t *testing.T) {
	const blocks = 32
	base := crashSeed(t)
	for round := range 100 {
		seed := base + uint64(round)
		rng := rand.New(rand.NewPCG(seed, 11))
		o := CrashSimOptions{CacheSurvival: []float64{0, 0.3, 1}[rng.IntN(3)], Tear: rng.IntN(2) == 0}
		c := NewCrashSim(blocks*512, o)
		// allowed[b] lists the fill bytes block b may hold; [0] is the stable one.
		allowed := make([][]byte, blocks)
		for b := range allowed {
			allowed[b] = []byte{0}
		}
		next := byte(1)
		for range 60 {
			switch k := rng.IntN(10); {
			case k < 8:
				start, n := rng.IntN(blocks), 1+rng.IntN(4)
				n = min(n, blocks-start)
				stable := k == 0
				if err := c.WriteAt(bytes.Repeat(block(next), n), int64(start*512), stable); err != nil {
					t.Fatal(err)
				}
				for b := start; b < start+n; b++ {
					if stable {
						allowed[b] = []byte{next}
					} else {
						allowed[b] = append(allowed[b], next)
					}
				}
				next = next%250 + 1
			default:
				if err := c.Sync(); err != nil {
					t.Fatal(err)
				}
				for b := range allowed {
					allowed[b] = allowed[b][len(allowed[b])-1:]
				}
			}
		}
		c.PowerLoss(rand.New(rand.NewPCG(seed, 12)))
		img := c.Surviving()
		for b := range blocks {
			got := img[b*512 : (b+1)*512]
			if !bytes.Equal(got, block(got[0])) || bytes.IndexByte(allowed[b], got[0]) < 0 {
				t.Fatalf("seed %d (%+v): block %d holds %#x, allowed %v", seed, o, b, got[0], allowed[b])
			}
			if o.CacheSurvival == 0 && !o.Tear && got[0] != allowed[b][0] {
				t.Fatalf("seed %d (%+v): block %d holds %#x, want its stable %#x", seed, o, b, got[0], allowed[b][0])
			}
		}
		// The restart image is exactly what survived.
		r := NewCrashSimFromImage(img, o)
		mustRead(t, r, 0, img)
		img[0] ^= 0xFF
		if p := make([]byte, 1); func() bool { r.ReadAt(p, 0); return p[0] == img[0] }() {
			t.Fatal("NewCrashSimFromImage shares the caller's slice")
		}
	}
}

// TestCrashSimWriteBack: past MaxCachedBytes the oldest cached writes are written
// back, so the log stays bounded and those writes survive.
func TestCrashSimWriteBack(t *testing.T) {
	c := NewCrashSim(8*512, CrashSimOptions{MaxCachedBytes: 2 * 512})
	for i := range 4 {
		if err := c.WriteAt(block(byte(i+1)), int64(i*512), false); err != nil {
			t.Fatal(err)
		}
	}
	c.PowerLoss(nil)
	wantBlocks(t, "after power loss", c.Surviving(), 1, 2, 0, 0)
}

// TestCrashSimErrors: ranges are checked and Close is final.
func TestCrashSimErrors(t *testing.T) {
	c := NewCrashSim(1024, CrashSimOptions{})
	if err := c.WriteAt(make([]byte, 512), 1000, false); !errors.Is(err, ErrOutOfRange) {
		t.Errorf("write past the end: %v", err)
	}
	if err := c.Unmap(-1, 2); !errors.Is(err, ErrOutOfRange) {
		t.Errorf("unmap at -1: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Sync(); !errors.Is(err, ErrClosed) {
		t.Errorf("sync after close: %v", err)
	}
	if len(c.Surviving()) != 1024 {
		t.Error("Surviving after Close lost the image")
	}
}
