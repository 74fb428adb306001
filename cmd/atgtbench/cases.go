package main

// The cases of the normal mode: what each table line runs against a target, and
// how its CPU cost is counted.

import (
	"context"
	"math"
	"sync"
)

// benchCase is one line of the table: how to run it once against a target.
type benchCase struct {
	Name  string
	Unit  string
	Write bool
	Run   func(ctx context.Context, t *target) (sample, string, error)
}

const iperfCase = "iperf3 loopback, 1 stream"

// blockSize is the logical block size of both LUNs (atgt's and tgt's default), the
// unit of iscsi-perf's -b.
const blockSize = 512

// measure charges the target's CPU time between the two calls of the returned
// function to the run.
type cpuMeter struct {
	pid    int
	t0, t1 float64
	n      int
	err    error
	// machine measures the cluster (with -rbd) and the busy cores alike.
	machine machineMeter
}

func (m *cpuMeter) tick() {
	if m.n == 0 {
		m.machine.mark()
	} else {
		m.machine.stop()
	}
	if m.pid <= 0 {
		m.n++
		return
	}
	v, err := cpuSeconds(m.pid)
	if err != nil {
		m.err = err
	}
	if m.n == 0 {
		m.t0 = v
	} else {
		m.t1 = v
	}
	m.n++
}

// perGB returns CPU seconds per 1e9 bytes, NaN when unknown.
func (m *cpuMeter) perGB(bytes float64) float64 {
	if m.pid <= 0 || m.err != nil || m.n < 2 || bytes <= 0 {
		return math.NaN()
	}
	return (m.t1 - m.t0) / (bytes / 1e9)
}

// perGB is seconds per 1e9 bytes, NaN when unknown.
func perGB(secs, bytes float64) float64 {
	if math.IsNaN(secs) || bytes <= 0 {
		return math.NaN()
	}
	return secs / (bytes / 1e9)
}

func buildCases(c *config) []benchCase {
	var cs []benchCase
	for _, write := range []bool{false, true} {
		for _, random := range []bool{false, true} {
			for _, size := range c.sizes {
				gc := goCase{Random: random, Write: write, Size: size}
				unit := "IOPS"
				if size >= 128<<10 {
					unit = "MB/s"
				}
				cs = append(cs, benchCase{Name: gc.name(), Unit: unit, Write: write,
					Run: func(ctx context.Context, t *target) (sample, string, error) {
						m := &cpuMeter{pid: t.PID}
						ios := c.ios
						if c.iosLarge > 0 && size >= 128<<10 {
							ios = c.iosLarge
						}
						r, err := runGoCase(t.URL, gc, ios, c.qd, m.tick)
						if err != nil {
							return sample{}, "", err
						}
						v := float64(r.IOs) / r.Elapsed.Seconds()
						if unit == "MB/s" {
							v = float64(r.Bytes) / r.Elapsed.Seconds() / 1e6
						}
						s := sample{Value: v, CPUPerGB: m.perGB(float64(r.Bytes)),
							ClientCPUPerGB: perGB(r.CPU, float64(r.Bytes)), Short: r.Short}
						m.machine.fill(&s, float64(r.Bytes))
						return s, "", nil
					}})
			}
		}
	}
	perf := func(name, unit string, blocks int, random bool) benchCase {
		return benchCase{Name: name, Unit: unit, Run: func(ctx context.Context, t *target) (sample, string, error) {
			m := &cpuMeter{pid: t.PID}
			m.tick()
			r, out, err := runISCSIPerf(ctx, t.URL, c.qd, blocks, random, c.perfSeconds, blockSize)
			m.tick()
			if err != nil {
				return sample{}, out, err
			}
			v := r.IOPS
			if unit == "MB/s" {
				v = r.IOPS * float64(blocks*blockSize) / 1e6
			}
			s := sample{Value: v, CPUPerGB: m.perGB(r.Bytes), ClientCPUPerGB: perGB(r.CPU, r.Bytes), Busy: r.Busy}
			m.machine.fill(&s, r.Bytes)
			return s, out, nil
		}}
	}
	cs = append(cs,
		perf("iscsi-perf rand read 4K", "IOPS", 8, true),
		perf("iscsi-perf seq read 128K", "MB/s", 256, false))
	qemu := func(name, unit string, size, count int, write bool) benchCase {
		return benchCase{Name: name, Unit: unit, Write: write, Run: func(ctx context.Context, t *target) (sample, string, error) {
			m := &cpuMeter{pid: t.PID}
			m.tick()
			r, out, err := runQemuBench(ctx, t.URL, c.qd, size, count, write)
			m.tick()
			if err != nil {
				return sample{}, out, err
			}
			v := r.IOPS
			if unit == "MB/s" {
				v = r.Bytes / r.Elapsed.Seconds() / 1e6
			}
			s := sample{Value: v, CPUPerGB: m.perGB(r.Bytes), ClientCPUPerGB: perGB(r.CPU, r.Bytes)}
			m.machine.fill(&s, r.Bytes)
			return s, out, nil
		}}
	}
	cs = append(cs,
		qemu("qemu-img seq read 4K", "IOPS", 4096, c.qemuCount, false),
		qemu("qemu-img seq write 4K", "IOPS", 4096, c.qemuCount, true),
		qemu("qemu-img seq read 128K", "MB/s", 128<<10, c.qemuCountLarge, false),
		qemu("qemu-img seq write 128K", "MB/s", 128<<10, c.qemuCountLarge, true),
		// Beyond FirstBurstLength: the rest of each write comes in Data-Out PDUs.
		qemu("qemu-img seq write 1M", "MB/s", 1<<20, max(c.qemuCountLarge/8, 1), true))
	var out []benchCase
	for _, bc := range cs {
		if c.cases.MatchString(bc.Name) {
			out = append(out, bc)
		}
	}
	return out
}

// cleanup holds what must be undone however the benchmark ends.
var cleanup struct {
	sync.Mutex
	targets []*target
	dirs    []string // removed after the targets stop (a tmpfs backing file is RAM)
}
