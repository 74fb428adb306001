package main

import (
	"fmt"
	"time"

	"github.com/atgt/atgt/tests/initiator"
)

// goCase is one of the paper's micro-benchmarks run with the module's Go initiator.
type goCase struct {
	Random, Write bool
	Size          int // bytes per IO
}

func (c goCase) name() string {
	pat, op := "seq", "read"
	if c.Random {
		pat = "rand"
	}
	if c.Write {
		op = "write"
	}
	return fmt.Sprintf("go %s %s %s", pat, op, sizeName(c.Size))
}

func sizeName(n int) string {
	if n%1024 == 0 {
		return fmt.Sprintf("%dK", n/1024)
	}
	return fmt.Sprintf("%dB", n)
}

// goSeed is the seed of a run's random offsets: 1 (every run the same offsets, as the
// page cache holds the whole file anyway), or with -rbd a new one per run, so that no
// run reads what an earlier run left in a cache (the OSD's, or tgt-rbd's librbd
// cache) and every run meets the cluster alike.
var goSeed = func() uint64 { return 1 }

// goResult is what one run of a goCase measured.
type goResult struct {
	IOs   int
	Bytes int64 // data the target moved (initiator.Pipeline.Bytes), not IOs x size
	// Short is the data asked for that the target did not move (GOOD with a
	// residual, or fewer Data-In bytes than asked): 0 from a correct target.
	Short   int64
	Elapsed time.Duration
	CPU     float64 // this process's CPU seconds while the IOs ran (the client's)
}

// runGoCase logs in to url, reads the capacity, then runs ios IOs of the case with qd
// commands outstanding through an initiator.Pipeline on a fresh login. cpu is called
// just before the first IO and just after the last, so login is not charged.
// Sequential IOs take consecutive offsets (wrapping at the end of the LUN); random
// ones are size-aligned offsets from a fixed seed.
func runGoCase(url string, c goCase, ios, qd int, cpu func()) (goResult, error) {
	opts := benchInitiator()
	l, err := dialLUN(url, opts)
	if err != nil {
		return goResult{}, err
	}
	defer l.Raw.Conn.Close()
	// The pipeline keeps qd commands in flight from one goroutine and allocates
	// nothing per command, so the figures are the target's, not the client's.
	pl, err := l.Raw.NewPipeline(initiator.PipelineConfig{LUN: l.LUN, BlockSize: l.BlockSize, Blocks: l.Blocks,
		Size: c.Size, Write: c.Write, Random: c.Random, Depth: qd, Seed: goSeed(), Timeout: 60 * time.Second})
	if err != nil {
		return goResult{}, err
	}
	// One command first: a reinstated session's nexus may report a unit attention.
	if err := pl.Run(1, false); err != nil {
		return goResult{}, fmt.Errorf("%s: %w", c.name(), err)
	}
	cpu()
	b0 := pl.Bytes()
	c0, start := selfCPU(), time.Now()
	err = pl.Run(ios, true)
	elapsed, c1 := time.Since(start), selfCPU()
	cpu()
	if err != nil {
		return goResult{}, fmt.Errorf("%s: %w", c.name(), err)
	}
	moved := pl.Bytes() - b0
	return goResult{IOs: ios, Bytes: moved, Short: int64(ios)*int64(c.Size) - moved, Elapsed: elapsed, CPU: c1 - c0}, nil
}

// rawLUN is a Raw connection logged in to a LUN whose capacity is known, ready for
// an initiator.Pipeline.
type rawLUN struct {
	Raw       *initiator.Raw
	LUN       uint64
	Blocks    uint64 // capacity in blocks
	BlockSize uint32
}

// dialLUN logs in to url with opts (the target name comes from url, the timeout is
// 60 s), reads the LUN's capacity on that session and logs out, then logs in anew
// for a Raw connection: the pipelines that drive it need the capacity before their
// first command and must own the connection alone.
func dialLUN(url string, opts initiator.Options) (*rawLUN, error) {
	u, err := parseISCSIURL(url)
	if err != nil {
		return nil, err
	}
	opts.TargetName, opts.Timeout = u.Target, 60*time.Second
	s, err := initiator.Dial(u.Addr, opts)
	if err != nil {
		return nil, fmt.Errorf("login to %s: %w", url, err)
	}
	blocks, bs, err := s.ReadCapacity16(u.LUN)
	if err != nil {
		// The first command may meet a unit attention (power on / reset); retry once.
		blocks, bs, err = s.ReadCapacity16(u.LUN)
	}
	s.Logout() //nolint:errcheck // the capacity is known; the raw connection logs in anew
	s.Close()
	if err != nil {
		return nil, fmt.Errorf("READ CAPACITY(16): %w", err)
	}
	raw, err := initiator.DialRaw(u.Addr, opts)
	if err != nil {
		return nil, fmt.Errorf("login to %s: %w", url, err)
	}
	return &rawLUN{Raw: raw, LUN: u.LUN, Blocks: blocks, BlockSize: bs}, nil
}
