package main

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
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

// goResult is what one run of a goCase measured.
type goResult struct {
	IOs     int
	Bytes   int64
	Elapsed time.Duration
}

// runGoCase logs in to url, runs ios IOs of the case with qd commands outstanding
// (qd goroutines, each with one command in flight) and logs out. cpu is called just
// before the first IO and just after the last, so login is not charged. Sequential
// IOs take consecutive offsets shared by all workers (wrapping at the end of the
// LUN); random ones are size-aligned offsets from a fixed seed.
func runGoCase(url string, c goCase, ios, qd int, cpu func()) (goResult, error) {
	u, err := parseISCSIURL(url)
	if err != nil {
		return goResult{}, err
	}
	s, err := initiator.Dial(u.Addr, initiator.Options{
		InitiatorName: "iqn.2026-11.dev.atgt:atgtbench",
		TargetName:    u.Target,
		Timeout:       60 * time.Second,
		// tgt refuses an all-zero ISID (its session id would be 0): use a random-type
		// ISID (RFC 7143 11.12.5) as real initiators do.
		ISID: [6]byte{0x80, 0xa7, 0x6b, 0x00, 0x00, 0x01},
	})
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
	if c.Size%int(bs) != 0 {
		return goResult{}, fmt.Errorf("IO size %d is not a multiple of the %d-byte block", c.Size, bs)
	}
	perIO := uint64(c.Size / int(bs))
	slots := blocks / perIO // size-aligned IO positions on the LUN
	if slots == 0 {
		return goResult{}, fmt.Errorf("LUN of %d blocks is smaller than one IO", blocks)
	}
	data := make([]byte, c.Size)
	for i := range data {
		data[i] = byte(i*7 + 1)
	}
	var next atomic.Int64 // IOs handed out
	var seq atomic.Uint64 // next sequential slot
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	cpu()
	start := time.Now()
	for w := 0; w < qd; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w)+1, 0x5eed))
			for next.Add(1) <= int64(ios) {
				var slot uint64
				if c.Random {
					slot = rng.Uint64N(slots)
				} else {
					slot = (seq.Add(1) - 1) % slots
				}
				lba := slot * perIO
				var err error
				if c.Write {
					err = s.Write(u.LUN, lba, data, bs, false)
				} else {
					_, err = s.Read(u.LUN, lba, uint32(perIO), bs)
				}
				if err != nil {
					once.Do(func() { firstErr = fmt.Errorf("%s at LBA %d: %w", c.name(), lba, err) })
					next.Store(int64(ios)) // stop the others
					return
				}
			}
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu()
	if firstErr != nil {
		return goResult{}, firstErr
	}
	s.Logout() //nolint:errcheck // the figures are taken
	return goResult{IOs: ios, Bytes: int64(ios) * int64(c.Size), Elapsed: elapsed}, nil
}
