package backend

import (
	"errors"
	"math/rand/v2"
	"sync"
)

// crashPath names the crash simulator in errors.
const crashPath = "crashsim"

// ErrPowerLoss is what every call on a CrashSim returns while its power is
// off: the write that was in progress when the power failed, and everything
// after it until PowerOn.
var ErrPowerLoss = errors.New("power lost (crash simulation)")

// CrashSimOptions choose how much of what was not yet stable a power loss
// leaves behind. Whatever they say, data made stable (a stable write, or any
// write before a Sync) always survives: that is the promise under test.
type CrashSimOptions struct {
	// BlockSize is the unit a power loss keeps or drops (a disk writes whole
	// sectors). 0 means 512.
	BlockSize int
	// CacheSurvival is the chance that one block of a cached (not yet
	// stable) write reached the medium anyway before the power failed, as
	// a real cache writes back on its own schedule. 0 drops every cached
	// block, the strictest case; 1 keeps them all.
	CacheSurvival float64
	// Tear makes a power loss tear writes at a random block boundary: the
	// write in progress when an armed power loss strikes lands only in part
	// (a prefix of its blocks, possibly none or all), and some cached
	// multi-block writes keep just a prefix.
	Tear bool
	// MaxCachedBytes bounds the write log kept since the last Sync; past it
	// the oldest writes are written back to the medium, which any cache may
	// do. 0 means 64 MiB.
	MaxCachedBytes int64
}

// PowerLossReport says what one power loss did, so a test can show it
// exercised something (data was really dropped, writes were really torn).
type PowerLossReport struct {
	// CachedWrites counts the logged writes and unmaps that were not
	// stable; CachedBlocks the blocks they touched (a block counted once
	// per write).
	CachedWrites, CachedBlocks int
	// KeptBlocks and DroppedBlocks split CachedBlocks by outcome.
	KeptBlocks, DroppedBlocks int
	// TornWrites counts multi-block writes that landed only in part.
	TornWrites int
	// InFlight is set when an armed power loss struck during a write;
	// InFlightBlocks is that write's size and InFlightLanded how many of its
	// blocks reached the medium.
	InFlight                       bool
	InFlightBlocks, InFlightLanded int
}

// crashRec is one logged write since the last Sync: stable ones always
// survive a power loss, cached ones may not. zero marks an unmap.
type crashRec struct {
	off    int64
	data   []byte
	n      int64
	zero   bool
	stable bool
}

// CrashSim is a memory backend that behaves like a disk with a volatile
// write cache and can lose power. It exists to prove the durability promise
// of the README: a test drives a LUN on it, cuts the power (PowerLoss, or
// ArmPowerLoss to strike in the middle of an IO), restarts a LUN on what
// survived (PowerOn, or NewCrashSimFromImage(Surviving())), and checks that
// every write the initiator was told is stable is there.
//
// Reads see the volatile view (every completed write). The medium is the
// content at the last Sync plus a log of the writes since, in order; a
// stable write or a Sync makes its data survive, a cached write or an unmap
// (a volatile zeroing) may survive or not. A power loss replays the log on
// the medium, keeping every stable write and, per CrashSimOptions, some
// blocks of cached ones, so the result is always a state a real disk could
// be left in: each block holds its last stable content or a later write.
//
// It is not a wrapper and has no optional interfaces: it is neither a block
// device (BlockSizer would change the LUN's unmap semantics) nor a Mapper
// (everything reads as mapped, as for the memory backend). All methods are
// safe for concurrent use; one mutex serialises them, which is fine for
// tests.
type CrashSim struct {
	mu     sync.Mutex
	opts   CrashSimOptions
	medium []byte // content at the last Sync (plus written-back log heads)
	vol    []byte // what reads see
	log    []crashRec
	logLen int64 // bytes of data held by log
	off    bool  // power is off
	closed bool

	armed   int // mutating calls until an armed power loss strikes; 0 = not armed
	armRng  *rand.Rand
	last    PowerLossReport
	outages int
}

// NewCrashSim returns a zero-filled crash simulator of size bytes.
func NewCrashSim(size int64, o CrashSimOptions) *CrashSim {
	if size < 0 {
		size = 0
	}
	return newCrashSim(make([]byte, size), o)
}

// NewCrashSimFromImage returns a crash simulator whose medium holds a copy
// of img, all of it stable: the way to restart on what a power loss left
// (Surviving of the old simulator).
func NewCrashSimFromImage(img []byte, o CrashSimOptions) *CrashSim {
	return newCrashSim(append([]byte(nil), img...), o)
}

func newCrashSim(medium []byte, o CrashSimOptions) *CrashSim {
	if o.BlockSize <= 0 {
		o.BlockSize = 512
	}
	if o.MaxCachedBytes <= 0 {
		o.MaxCachedBytes = 64 << 20
	}
	return &CrashSim{opts: o, medium: medium, vol: append([]byte(nil), medium...)}
}

// check validates state and range; the caller holds c.mu.
func (c *CrashSim) check(op string, off, n int64) error {
	if c.closed {
		return pathErr(op, crashPath, ErrClosed)
	}
	if c.off {
		return pathErr(op, crashPath, ErrPowerLoss)
	}
	return pathErr(op, crashPath, checkRange(off, n, int64(len(c.vol))))
}

// strike counts a mutating call against an armed power loss and reports
// whether the power fails during this call; the caller holds c.mu.
func (c *CrashSim) strike() bool {
	if c.armed == 0 {
		return false
	}
	c.armed--
	return c.armed == 0
}

// ReadAt reads the volatile view.
func (c *CrashSim) ReadAt(p []byte, off int64) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.check("read", off, int64(len(p))); err != nil {
		return 0, err
	}
	return copy(p, c.vol[off:]), nil
}

// WriteAt updates the volatile view and logs the write; with stable=true the
// write will survive any later power loss once WriteAt has returned.
func (c *CrashSim) WriteAt(p []byte, off int64, stable bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.check("write", off, int64(len(p))); err != nil {
		return err
	}
	if c.strike() {
		c.powerLossInFlight(p, off)
		return pathErr("write", crashPath, ErrPowerLoss)
	}
	copy(c.vol[off:], p)
	c.append(crashRec{off: off, data: append([]byte(nil), p...), n: int64(len(p)), stable: stable})
	return nil
}

// Size is the capacity in bytes.
func (c *CrashSim) Size() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return int64(len(c.vol))
}

// Sync makes every completed write stable: the medium becomes the volatile
// view.
func (c *CrashSim) Sync() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.check("sync", 0, 0); err != nil {
		return err
	}
	if c.strike() {
		c.powerLoss(c.armRng)
		return pathErr("sync", crashPath, ErrPowerLoss)
	}
	for _, r := range c.log {
		c.apply(r, 0, r.n)
	}
	c.log, c.logLen = nil, 0
	return nil
}

// Unmap zeroes the range in the volatile view; like a cached write, the
// zeros may or may not survive a power loss.
func (c *CrashSim) Unmap(off, length int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.check("unmap", off, length); err != nil {
		return err
	}
	if c.strike() {
		c.powerLoss(c.armRng)
		return pathErr("unmap", crashPath, ErrPowerLoss)
	}
	clear(c.vol[off : off+length])
	c.append(crashRec{off: off, n: length, zero: true})
	return nil
}

// Close ends use of the simulator; Surviving still works afterwards.
func (c *CrashSim) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return pathErr("close", crashPath, ErrClosed)
	}
	c.closed = true
	return nil
}

// append logs r, writing back the oldest records once the log is over its
// bound; the caller holds c.mu.
func (c *CrashSim) append(r crashRec) {
	c.log = append(c.log, r)
	if !r.zero {
		c.logLen += r.n
	}
	for c.logLen > c.opts.MaxCachedBytes && len(c.log) > 1 {
		h := c.log[0]
		c.apply(h, 0, h.n)
		if !h.zero {
			c.logLen -= h.n
		}
		c.log[0] = crashRec{}
		c.log = c.log[1:]
	}
}

// apply puts bytes [from, to) of r on the medium; the caller holds c.mu.
func (c *CrashSim) apply(r crashRec, from, to int64) {
	if from >= to {
		return
	}
	if r.zero {
		clear(c.medium[r.off+from : r.off+to])
		return
	}
	copy(c.medium[r.off+from:r.off+to], r.data[from:to])
}

// blocks splits r into the byte ranges, relative to r.off, of the blocks it
// touches (the first and last may be partial for an unaligned write).
func (c *CrashSim) blocks(r crashRec) [][2]int64 {
	bs := int64(c.opts.BlockSize)
	var out [][2]int64
	for from := int64(0); from < r.n; {
		to := min(r.n, (r.off+from)/bs*bs+bs-r.off)
		out = append(out, [2]int64{from, to})
		from = to
	}
	return out
}

// ArmPowerLoss makes the power fail during the n-th mutating call (WriteAt,
// Sync or Unmap) from now on (n >= 1; 0 disarms), as PowerLoss(rng) would,
// except that a write in progress may land in part when Tear is set. The
// call fails with ErrPowerLoss. rng belongs to the simulator until then: it
// is used from whichever goroutine makes that call.
func (c *CrashSim) ArmPowerLoss(n int, rng *rand.Rand) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.armed, c.armRng = max(n, 0), rng
}

// PowerLoss cuts the power now: the medium keeps every stable write and, as
// the options allow, some cached blocks; the volatile view is lost; every
// call fails with ErrPowerLoss until PowerOn. rng makes the choices (nil
// drops every cached block and tears nothing), so a seeded rng reproduces
// the outcome. It returns what it did.
func (c *CrashSim) PowerLoss(rng *rand.Rand) PowerLossReport {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.powerLoss(rng)
	return c.last
}

// powerLossInFlight is a power loss during the write of p at off: with Tear,
// a random prefix of its blocks reached the medium first; the caller holds
// c.mu.
func (c *CrashSim) powerLossInFlight(p []byte, off int64) {
	r := crashRec{off: off, data: append([]byte(nil), p...), n: int64(len(p)), stable: true}
	bl := c.blocks(r)
	landed := 0
	if c.opts.Tear && c.armRng != nil {
		landed = c.armRng.IntN(len(bl) + 1)
	}
	if landed > 0 {
		r.n = bl[landed-1][1]
		r.data = r.data[:r.n]
		c.log = append(c.log, r)
	}
	c.powerLoss(c.armRng)
	c.last.InFlight, c.last.InFlightBlocks, c.last.InFlightLanded = true, len(bl), landed
}

// powerLoss replays the log on the medium with the options' choices and
// turns the power off; the caller holds c.mu.
func (c *CrashSim) powerLoss(rng *rand.Rand) {
	rep := PowerLossReport{}
	for _, r := range c.log {
		if r.stable {
			c.apply(r, 0, r.n)
			continue
		}
		bl := c.blocks(r)
		rep.CachedWrites++
		rep.CachedBlocks += len(bl)
		if rng != nil && c.opts.Tear && len(bl) > 1 && rng.IntN(4) == 0 {
			k := 1 + rng.IntN(len(bl)-1)
			c.apply(r, 0, bl[k-1][1])
			rep.TornWrites++
			rep.KeptBlocks += k
			rep.DroppedBlocks += len(bl) - k
			continue
		}
		for _, b := range bl {
			if rng != nil && c.opts.CacheSurvival > 0 && rng.Float64() < c.opts.CacheSurvival {
				c.apply(r, b[0], b[1])
				rep.KeptBlocks++
			} else {
				rep.DroppedBlocks++
			}
		}
	}
	c.log, c.logLen = nil, 0
	copy(c.vol, c.medium)
	c.off, c.armed, c.armRng = true, 0, nil
	c.outages++
	c.last = rep
}

// PowerOn brings the simulator back on what survived, as a disk comes back
// after an outage. Whatever ran on it before (the target) lost power too and
// must be restarted: state a process kept, such as a failed Sync, is gone.
func (c *CrashSim) PowerOn() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.off = false
}

// PoweredOff reports whether the power is off (after PowerLoss or an armed
// power loss that struck, until PowerOn).
func (c *CrashSim) PoweredOff() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.off
}

// LastPowerLoss returns the report of the latest power loss and how many
// there have been, for an armed one that struck inside an IO worker.
func (c *CrashSim) LastPowerLoss() (PowerLossReport, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last, c.outages
}

// Surviving returns a copy of what is stable now: after a power loss, what
// survived it; while powered, what a power loss dropping every cached block
// would leave. Feed it to NewCrashSimFromImage to restart.
func (c *CrashSim) Surviving() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	img := append([]byte(nil), c.medium...)
	for _, r := range c.log {
		if r.stable {
			if r.zero {
				clear(img[r.off : r.off+r.n])
			} else {
				copy(img[r.off:], r.data)
			}
		}
	}
	return img
}
