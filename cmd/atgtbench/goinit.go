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
	IOs     int
	Bytes   int64
	Elapsed time.Duration
	CPU     float64 // this process's CPU seconds while the IOs ran (the client's)
}

// runGoCase logs in to url, reads the capacity, then runs ios IOs of the case with qd
// commands outstanding through an initiator.Pipeline on a fresh login. cpu is called
// just before the first IO and just after the last, so login is not charged.
// Sequential IOs take consecutive offsets (wrapping at the end of the LUN); random
// ones are size-aligned offsets from a fixed seed.
func runGoCase(url string, c goCase, ios, qd int, cpu func()) (goResult, error) {
	u, err := parseISCSIURL(url)
	if err != nil {
		return goResult{}, err
	}
	opts := initiator.Options{
		InitiatorName: "iqn.2026-11.dev.atgt:atgtbench",
		TargetName:    u.Target,
		Timeout:       60 * time.Second,
		// tgt refuses an all-zero ISID (its session id would be 0): use a random-type
		// ISID (RFC 7143 11.12.5) as real initiators do.
		ISID: [6]byte{0x80, 0xa7, 0x6b, 0x00, 0x00, 0x01},
	}
	s, err := initiator.Dial(u.Addr, opts)
	if err != nil {
		return goResult{}, fmt.Errorf("login to %s: %w", url, err)
	}
	defer s.Close()
	blocks, bs, err := s.ReadCapacity16(u.LUN)
	if err != nil {
		// The first command may meet a unit attention (power on / reset); retry once.
		if blocks, bs, err = s.ReadCapacity16(u.LUN); err != nil {
			return goResult{}, fmt.Errorf("READ CAPACITY(16): %w", err)
		}
	}
	s.Logout() //nolint:errcheck // the capacity is known; the pipeline logs in anew
	// The pipeline keeps qd commands in flight from one goroutine and allocates
	// nothing per command, so the figures are the target's, not the client's.
	raw, err := initiator.DialRaw(u.Addr, opts)
	if err != nil {
		return goResult{}, fmt.Errorf("login to %s: %w", url, err)
	}
	defer raw.Conn.Close()
	pl, err := raw.NewPipeline(initiator.PipelineConfig{LUN: u.LUN, BlockSize: bs, Blocks: blocks,
		Size: c.Size, Write: c.Write, Random: c.Random, Depth: qd, Seed: goSeed(), Timeout: 60 * time.Second})
	if err != nil {
		return goResult{}, err
	}
	// One command first: a reinstated session's nexus may report a unit attention.
	if err := pl.Run(1, false); err != nil {
		return goResult{}, fmt.Errorf("%s: %w", c.name(), err)
	}
	cpu()
	c0, start := selfCPU(), time.Now()
	err = pl.Run(ios, true)
	elapsed, c1 := time.Since(start), selfCPU()
	cpu()
	if err != nil {
		return goResult{}, fmt.Errorf("%s: %w", c.name(), err)
	}
	return goResult{IOs: ios, Bytes: int64(ios) * int64(c.Size), Elapsed: elapsed, CPU: c1 - c0}, nil
}
