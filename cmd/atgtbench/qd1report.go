package main

// The report of `atgtbench qd1`: its tables from what the run measured, and the
// real clients it runs.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// qd1Sections builds the report's tables: atgt vs tgt (Go initiator, real
// clients), with -base atgt vs atgt-base likewise, the floors, the flush costs and
// the per-hop breakdowns.
func qd1Sections(c *qd1Config, d *qd1Data) []qd1Section {
	pairs := func(a, b string) []pairStats {
		var ps []pairStats
		for i, cs := range d.cases {
			ps = append(ps, pairStats{Case: cs.Name, A: latencyStats(d.goLat[a][i]), B: latencyStats(d.goLat[b][i])})
		}
		return ps
	}
	rows := make([]clientRow, len(d.clients))
	for i, cl := range d.clients {
		rows[i] = cl.clientRow
	}
	var ss []qd1Section
	ss = append(ss, goSection("QD1 latency, Go initiator: atgt vs tgt (µs per IO)", "atgt", "tgt", pairs("atgt", "tgt"), c.rounds, c.slices))
	ss = append(ss, goalSection(d))
	if c.clients {
		ss = append(ss, clientSection("QD1 latency, real clients: atgt vs tgt (mean µs per IO)", "atgt", "tgt", rows))
	}
	if c.baseBin != "" {
		ss = append(ss, goSection("QD1 latency, Go initiator: atgt vs atgt-base (µs per IO)", "atgt", "atgt-base",
			pairs("atgt", "atgt-base"), c.rounds, c.slices))
		if c.clients {
			ss = append(ss, clientSection("QD1 latency, real clients: atgt vs atgt-base (mean µs per IO)", "atgt", "atgt-base", rows))
		}
	}
	if c.floors {
		var floors []floorRow
		for i, s := range pingShapes {
			floors = append(floors, floorRow{Case: s.Name, Stats: latencyStats(d.pingLat[i])})
		}
		ss = append(ss, floorSection("The floor: loopback TCP round trip, no target (µs)",
			"Two Go processes (this one and an echo child) on 127.0.0.1, TCP_NODELAY, one message in flight; "+
				"the round trip from the request's write to the whole reply read.", floors))
		ss = append(ss, syncSection(d))
	}
	for _, t := range d.targets {
		for _, tc := range d.traced[t.Name] {
			ss = append(ss, traceSection(tc))
		}
	}
	return ss
}

// syncSection compares making a 4 KiB write stable directly on the file with the
// same through each target (issue 19, part 3).
func syncSection(d *qd1Data) qd1Section {
	var rows []floorRow
	direct := map[string]latStats{}
	for i, f := range syncFloors {
		st := latencyStats(d.syncLat[i])
		rows = append(rows, floorRow{Case: f.Name, Stats: st})
		direct[f.Name] = st
	}
	// The direct call each stable case matches.
	ref := map[qd1Op]string{
		opWriteFUA:  syncFloors[syncDsync].Name,     // pwritev2 RWF_DSYNC
		opWriteSync: syncFloors[syncFdatasync].Name, // pwrite + fdatasync
	}
	var gaps []string
	for range rows {
		gaps = append(gaps, "")
	}
	for i, cs := range d.cases {
		if ref[cs.Op] == "" {
			continue
		}
		for _, t := range d.targets {
			st := latencyStats(d.goLat[t.Name][i])
			rows = append(rows, floorRow{Case: cs.Name + " via " + t.Name, Stats: st})
			gaps = append(gaps, us(st.P50-direct[ref[cs.Op]].P50))
		}
	}
	s := floorSection("Flush cost: the file's own sync vs SYNCHRONIZE CACHE and FUA through the targets (µs)",
		fmt.Sprintf("Direct calls on the backing file (%s) with no target, beside the Go-initiator rows above "+
			"(whose latency includes the network round trip); the gap column is the p50 above the matching direct call "+
			"(write + SYNC CACHE vs pwrite + fdatasync, FUA vs pwritev2 RWF_DSYNC).", fsName(filepath.Dir(d.file))),
		rows)
	s.Header = append(s.Header, "p50 gap over direct")
	for i := range s.Rows {
		s.Rows[i] = append(s.Rows[i], gaps[i])
	}
	return s
}

// qd1Client is one real-client row and how to run it once.
type qd1Client struct {
	clientRow
	run func(ctx context.Context, c *qd1Config, t *target) (float64, error)
}

// qd1ClientRows are the real clients at QD1, as the issue measured them.
func qd1ClientRows() []qd1Client {
	qemu := func(name, how string, write, flush bool) qd1Client {
		return qd1Client{clientRow: clientRow{Case: name, How: how},
			run: func(ctx context.Context, c *qd1Config, t *target) (float64, error) {
				n := c.qemuCount
				if flush {
					n = c.qemuSync
				}
				if write {
					syncAll()
				}
				return runQemuQD1(ctx, t.URL, n, write, flush)
			}}
	}
	return []qd1Client{
		{clientRow: clientRow{Case: "4K rand read", How: "iscsi-perf -m 1 -b 8 -r"},
			run: func(ctx context.Context, c *qd1Config, t *target) (float64, error) {
				r, out, err := runISCSIPerf(ctx, t.URL, 1, 4096/blockSize, true, c.perfTime, blockSize)
				if err != nil {
					return 0, fmt.Errorf("%w\n%s", err, lastLines(out, 5))
				}
				return 1e6 / r.IOPS, nil
			}},
		qemu("4K seq read", "qemu-img bench -t none -d 1 -s 4096", false, false),
		qemu("4K seq write", "qemu-img bench -t none -d 1 -s 4096 -w", true, false),
		qemu("4K seq write + flush", "qemu-img bench -t none -d 1 -s 4096 -w --flush-interval=1", true, true),
	}
}

// runQemuQD1 runs qemu-img bench at depth 1 and returns the mean µs per IO.
func runQemuQD1(ctx context.Context, url string, count int, write, flush bool) (float64, error) {
	var extra []string
	if flush {
		extra = append(extra, "--flush-interval=1")
	}
	r, out, err := runQemuBench(ctx, url, 1, 4096, count, write, extra...)
	if err != nil {
		return 0, fmt.Errorf("%v\n%s", err, lastLines(out, 5))
	}
	return r.Elapsed.Seconds() * 1e6 / float64(count), nil
}

// writeQD1Outputs writes the report, every table as CSV and the per-round figures.
func writeQD1Outputs(dir, md string, sections []qd1Section, runs []qd1Run) error {
	if err := os.WriteFile(filepath.Join(dir, "qd1.md"), []byte(md), 0o644); err != nil {
		return err
	}
	var recs [][]string
	for _, s := range sections {
		recs = append(recs, append([]string{"section"}, s.Header...))
		for _, r := range s.Rows {
			recs = append(recs, append([]string{s.Title}, r...))
		}
	}
	if err := writeCSVFile(filepath.Join(dir, "qd1.csv"), recs); err != nil {
		return err
	}
	recs = [][]string{{"section", "case", "target", "round", "samples", "p50_us", "mean_us"}}
	for _, r := range runs {
		recs = append(recs, []string{r.Section, r.Case, r.Target, strconv.Itoa(r.Round), strconv.Itoa(r.N),
			fmtFloat(r.P50, 2), fmtFloat(r.Mean, 2)})
	}
	return writeCSVFile(filepath.Join(dir, "qd1-runs.csv"), recs)
}

// qd1Goal is one of issue 19's targets for a Go-initiator case: a statistic's
// ratio atgt/tgt at most Max.
type qd1Goal struct {
	Op   qd1Op
	Stat string // "p50" or "p99"
	Max  float64
}

// qd1Goals are issue 19's "what it must show": 4 KiB random read p50 ≤ 0.7x tgt's,
// write and write+flush p50 ≤ 0.8x, and no p99 worse than tgt's.
var qd1Goals = []qd1Goal{
	{Op: opRead, Stat: "p50", Max: 0.7},
	{Op: opWrite, Stat: "p50", Max: 0.8},
	{Op: opWriteSync, Stat: "p50", Max: 0.8},
	{Op: opRead, Stat: "p99", Max: 1},
	{Op: opWrite, Stat: "p99", Max: 1},
	{Op: opWriteFUA, Stat: "p99", Max: 1},
	{Op: opWriteSync, Stat: "p99", Max: 1},
}

// goalFloor is the p50 no target can beat for op on this machine: the sum of the
// p50s of its parts measured without a target, the network round trips of its
// commands' shapes (two for write + SYNC CACHE) and the direct calls on the file
// (none for a read, which the page cache serves). 0 when the floors were not run.
func goalFloor(d *qd1Data, op qd1Op) float64 {
	if len(d.pingLat) < len(pingShapes) || len(d.syncLat) < len(syncFloors) {
		return 0
	}
	ping := func(i int) float64 { return latencyStats(d.pingLat[i]).P50 }
	sync := func(i int) float64 { return latencyStats(d.syncLat[i]).P50 }
	switch op {
	case opRead:
		return ping(pingRead)
	case opWrite:
		return ping(pingWrite) + sync(syncPwrite)
	case opWriteFUA:
		return ping(pingWrite) + sync(syncDsync)
	case opWriteSync:
		return ping(pingWrite) + ping(pingNoData) + sync(syncFdatasync)
	}
	return 0
}

// goalSection checks the goals on the cases run, from the pooled percentiles; for a
// p50 goal it also gives the floor (goalFloor) over tgt's p50: a goal below it asks
// a target to be quicker than the network and the file's own calls measured alone.
func goalSection(d *qd1Data) qd1Section {
	s := qd1Section{Title: "Issue 19's goals (Go initiator, atgt / tgt)", Left: 4,
		Header: []string{"case", "goal", "ratio", "met", "floor / tgt's p50"}}
	s.Intro = "floor = the sum of the p50s of the case's parts measured with no target (below): the loopback " +
		"round trip of each command's shape (a write + SYNC CACHE has two) and the direct calls on the file " +
		"(pwrite; pwritev2 RWF_DSYNC for FUA; pwrite + fdatasync for SYNC CACHE). A goal below it asks a target " +
		"to answer quicker than the network and the file system do alone."
	for _, g := range qd1Goals {
		for i, cs := range d.cases {
			if cs.Op != g.Op {
				continue
			}
			a, t := latencyStats(d.goLat["atgt"][i]), latencyStats(d.goLat["tgt"][i])
			x, y := a.P50, t.P50
			if g.Stat == "p99" {
				x, y = a.P99, t.P99
			}
			met := "no"
			if y > 0 && x/y <= g.Max {
				met = "yes"
			}
			floor := ""
			if f := goalFloor(d, cs.Op); g.Stat == "p50" && f > 0 {
				floor = ratio(f, y)
			}
			s.Rows = append(s.Rows, []string{cs.Name, fmt.Sprintf("%s ≤ %.1fx tgt's", g.Stat, g.Max), ratio(x, y), met, floor})
		}
	}
	return s
}
