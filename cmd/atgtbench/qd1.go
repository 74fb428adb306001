package main

// `atgtbench qd1`: the latency a lone command sees (queue depth 1), atgt beside tgt
// on the same 256 MiB file, alternating in rounds: per-IO percentiles through the Go
// initiator, means through iscsi-perf and qemu-img bench, the floors with no target
// (loopback TCP ping-pong, pwrite+fdatasync on the file itself), and a per-hop
// breakdown of atgt's time from its message trace (issue 19).
//
//	go run ./cmd/atgtbench qd1                      # full run, results in ./qd1-out
//	go run ./cmd/atgtbench qd1 -atgtd /tmp/atgtd -rounds 5 -ios 20000

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"time"
)

// qd1Initiator is the initiator name of the QD1 runs (traced runs add a suffix).
const qd1Initiator = "iqn.2026-11.dev.atgt:atgtbench-qd1"

// qd1Config holds the flags of qd1 mode.
type qd1Config struct {
	atgtBin string
	rounds  int
	// slices splits each Go-initiator case's IOs of a round into this many runs
	// per target, the targets taking turns (slice by slice, the order rotating),
	// so that a drift of the machine within a round reaches every target alike.
	slices    int
	ios       int // per Go-initiator case, target and round
	syncIOs   int // the same for the FUA and SYNC CACHE cases and the direct sync floor
	pingIOs   int
	traceIOs  int
	perfTime  time.Duration
	qemuCount int
	qemuSync  int
	dir       string
	size      int64
	out       string
	clients   bool
	floors    bool
	keep      bool
	// baseBin is a second atgtd binary run as a third target, "atgt-base", to
	// compare two builds of atgt in one sitting.
	baseBin string
	cases   *regexp.Regexp
	// place pins the processes for the whole run: "" not at all, "one" client and
	// targets on CPU 0, "two" the client on CPU 0 and the targets on CPU 1.
	place string
}

func parseQD1Flags(args []string) (*qd1Config, error) {
	fs := flag.NewFlagSet("atgtbench qd1", flag.ContinueOnError)
	c := &qd1Config{}
	fs.StringVar(&c.atgtBin, "atgtd", "", "use this atgtd binary instead of building ./cmd/atgtd")
	fs.IntVar(&c.rounds, "rounds", 3, "rounds; each runs every case on atgt and tgt back to back, the order alternating")
	fs.IntVar(&c.slices, "slices", 1, "split each Go-initiator case's IOs of a round into this many runs per target, the targets taking turns run by run")
	fs.IntVar(&c.ios, "ios", 10000, "timed IOs per Go-initiator read or write case, target and round")
	fs.IntVar(&c.syncIOs, "sync-ios", 2000, "timed IOs per FUA or SYNC CACHE case (and direct sync floor), target and round")
	fs.IntVar(&c.pingIOs, "ping-ios", 20000, "round trips per ping-pong shape and round")
	fs.IntVar(&c.traceIOs, "trace-ios", 2000, "IOs per case of the traced run (0: no per-hop breakdown)")
	fs.DurationVar(&c.perfTime, "perf-time", 5*time.Second, "length of each iscsi-perf run")
	fs.IntVar(&c.qemuCount, "qemu-count", 10000, "qemu-img bench -c for read and write")
	fs.IntVar(&c.qemuSync, "qemu-flush-count", 2000, "qemu-img bench -c for write with --flush-interval=1")
	fs.StringVar(&c.dir, "dir", "/var/tmp", "directory for the backing file: a real disk, so that a flush costs what it does in use")
	fs.Int64Var(&c.size, "size", 256<<20, "backing file size in bytes")
	fs.StringVar(&c.out, "out", "qd1-out", "output directory (qd1.md, qd1.csv, qd1-runs.csv)")
	fs.BoolVar(&c.clients, "clients", true, "also run iscsi-perf and qemu-img bench")
	fs.BoolVar(&c.floors, "floors", true, "also measure the floors (TCP ping-pong, direct pwrite+fdatasync)")
	fs.StringVar(&c.baseBin, "base", "", "also run this atgtd binary (e.g. main's build) as a third target, atgt-base, and compare atgt with it")
	fs.StringVar(&c.place, "place", "", "pin for the whole run: one (client and targets on CPU 0) or two (client on CPU 0, targets on CPU 1); default: no pinning")
	casesRE := fs.String("cases", "", "run only the Go-initiator cases (and their traced runs) whose name matches: "+caseList())
	fs.BoolVar(&c.keep, "keep", false, "keep the work directory (backing file, configs, logs)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if c.rounds <= 0 || c.ios <= 0 || c.syncIOs <= 0 || c.pingIOs <= 0 || c.traceIOs < 0 || c.qemuCount <= 0 || c.qemuSync <= 0 {
		return nil, errors.New("-rounds, -ios, -sync-ios, -ping-ios, -qemu-count and -qemu-flush-count must be positive")
	}
	if c.slices <= 0 || c.slices > min(c.ios, c.syncIOs) {
		return nil, errors.New("-slices: at least 1 and at most -ios and -sync-ios")
	}
	if c.perfTime < 2*time.Second {
		return nil, errors.New("-perf-time: at least 2s (iscsi-perf prints its first average after a second)")
	}
	if c.size < 1<<20 {
		return nil, errors.New("-size: at least 1 MiB")
	}
	switch c.place {
	case "", "one":
	case "two":
		if runtime.NumCPU() < 2 {
			return nil, errors.New("-place two: this machine has one CPU")
		}
	default:
		return nil, fmt.Errorf("-place %q: want one or two", c.place)
	}
	var err error
	if c.cases, err = regexp.Compile(*casesRE); err != nil {
		return nil, fmt.Errorf("-cases: %v", err)
	}
	if len(c.selected()) == 0 {
		return nil, fmt.Errorf("-cases %q matches none of %s", *casesRE, caseList())
	}
	return c, nil
}

// runQD1 is `atgtbench qd1`; it returns the exit code.
func runQD1(args []string) int {
	c, err := parseQD1Flags(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "atgtbench qd1: %v\n", err)
		return 2
	}
	ctx, cancel := stopOnSignal()
	defer cancel()
	defer stopAll()
	rep, _, err := qd1(ctx, c)
	if rep != "" {
		fmt.Print(rep)
	}
	if err != nil {
		logf("qd1: %v", err)
		return 1
	}
	logf("wrote %s/{qd1.md,qd1.csv,qd1-runs.csv}", c.out)
	return 0
}

// caseList names the Go-initiator cases for -cases' help.
func caseList() string {
	var ns []string
	for _, cs := range qd1Cases {
		ns = append(ns, "'"+cs.Name+"'")
	}
	return strings.Join(ns, ", ")
}

// selected are the Go-initiator cases -cases picks.
func (c *qd1Config) selected() []qd1Case {
	var out []qd1Case
	for _, cs := range qd1Cases {
		if c.cases == nil || c.cases.MatchString(cs.Name) {
			out = append(out, cs)
		}
	}
	return out
}

// qd1Run is one measured figure of one round, for qd1-runs.csv.
type qd1Run struct {
	Section, Case, Target string
	Round                 int
	N                     int
	P50, Mean             float64 // µs
}

// qd1Data is what a run measured.
type qd1Data struct {
	targets []*target // atgt, tgt and, with -base, atgt-base
	cases   []qd1Case
	// goLat[target name][case][round] are the Go initiator's latencies.
	goLat   map[string][][][]time.Duration
	pingLat [][][]time.Duration // [shape][round]
	syncLat [][][]time.Duration // [syncFloor][round]
	clients []qd1Client
	// traced[target name] are the per-hop breakdowns.
	traced map[string][]*tracedCase
	runs   []qd1Run
	file   string
}

// record keeps one round's figure for qd1-runs.csv.
func (d *qd1Data) record(section, cs, t string, round int, lat []time.Duration) latStats {
	st := latencyStats([][]time.Duration{lat})
	d.runs = append(d.runs, qd1Run{Section: section, Case: cs, Target: t, Round: round + 1, N: st.N, P50: st.P50, Mean: st.Mean})
	return st
}

// qd1 runs the benchmark and writes its outputs; it returns the report and its tables.
func qd1(ctx context.Context, c *qd1Config) (string, []qd1Section, error) {
	started := time.Now()
	tools := []string{"tgtd", "tgtadm"}
	if c.clients {
		tools = append(tools, "iscsi-perf", "qemu-img")
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			return "", nil, fmt.Errorf("%s not found: run scripts/install-bench-deps.sh", tool)
		}
	}
	if err := os.MkdirAll(c.out, 0o755); err != nil {
		return "", nil, err
	}
	workDir, err := os.MkdirTemp(c.dir, "atgtbench-qd1-")
	if err != nil {
		return "", nil, fmt.Errorf("-dir: %w", err)
	}
	if c.keep {
		logf("work directory %s (kept)", workDir)
	} else {
		defer os.RemoveAll(workDir)
	}
	d := &qd1Data{cases: c.selected(), goLat: map[string][][][]time.Duration{}, traced: map[string][]*tracedCase{},
		file: filepath.Join(workDir, "lun.img")}
	logf("backing file %s (%d bytes, %s)", d.file, c.size, fsName(workDir))
	if err := makeBackingFile(d.file, c.size); err != nil {
		return "", nil, fmt.Errorf("backing file: %w", err)
	}
	if d.targets, err = startQD1Targets(ctx, c, workDir, d.file); err != nil {
		return "", nil, err
	}
	if err := warmFile(d.file); err != nil {
		return "", nil, fmt.Errorf("warm: %w", err)
	}
	if c.place != "" {
		undo, err := placeRun(c.place, d.targets)
		if err != nil {
			return "", nil, err
		}
		defer undo()
	}
	if err := measureQD1(ctx, c, d); err != nil {
		return "", nil, err
	}
	if c.traceIOs > 0 {
		for _, t := range d.targets {
			if t.Name == "tgt" {
				continue
			}
			logf("traced run on %s (%d IOs per case)", t.Name, c.traceIOs)
			if d.traced[t.Name], err = runTraced(ctx, t, d.cases, c.traceIOs, 99); err != nil {
				return "", nil, err
			}
		}
	}
	stopAll()
	sections := qd1Sections(c, d)
	machine := machineInfo()
	if p := d.targets[0].Procs; p != "" {
		machine += fmt.Sprintf("; atgtd runs Go code on %s CPUs (maxProcs)", p)
	}
	if c.place != "" {
		machine += map[string]string{"one": "; pinned: client and targets on CPU 0",
			"two": "; pinned: client on CPU 0, targets on CPU 1"}[c.place]
	}
	var md strings.Builder
	fmt.Fprintf(&md, "# atgt vs tgt at queue depth 1, %s\n\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&md, "Machine: %s.\n\nCommand: `atgtbench qd1 %s` (took %s). Backing file: %d bytes on %s, in the page cache; "+
		"4 KiB IOs at random 4 KiB-aligned offsets.\n\n", machine, strings.Join(os.Args[min(2, len(os.Args)):], " "),
		time.Since(started).Round(time.Second), c.size, fsName(workDir))
	for _, s := range sections {
		md.WriteString(s.markdown())
	}
	err = writeQD1Outputs(c.out, md.String(), sections, d.runs)
	return md.String(), sections, err
}

// startQD1Targets starts atgtd, tgtd and, with -base, the base atgtd, all serving file.
func startQD1Targets(ctx context.Context, c *qd1Config, workDir, file string) ([]*target, error) {
	// Each traced task needs a slot in its connection's ring until it is read back.
	ring := min(max(256, 2*(c.traceIOs+8)), 65536)
	cfg := map[string]any{"traceRingTasks": ring}
	atgt, err := startAtgt(ctx, filepath.Join(workDir), file, c.size, nil, cfg, c.atgtBin, logf)
	if err != nil {
		return nil, fmt.Errorf("atgtd: %w", err)
	}
	addCleanup(atgt)
	tgt, err := startTgt(ctx, workDir, file, logf)
	if err != nil {
		return nil, fmt.Errorf("tgtd: %w", err)
	}
	addCleanup(tgt)
	ts := []*target{atgt, tgt}
	if c.baseBin != "" {
		dir := filepath.Join(workDir, "base")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		base, err := startAtgt(ctx, dir, file, c.size, nil, cfg, c.baseBin, logf)
		if err != nil {
			return nil, fmt.Errorf("atgtd -base %s: %w", c.baseBin, err)
		}
		base.Name = "atgt-base"
		addCleanup(base)
		ts = append(ts, base)
	}
	for _, t := range ts {
		logf("%s: pid %d at %s", t.Name, t.PID, t.URL)
	}
	return ts, nil
}

// measureQD1 runs the rounds: the floors, then each Go-initiator case on every
// target back to back, then each real client likewise; the targets' order rotates
// with the round.
func measureQD1(ctx context.Context, c *qd1Config, d *qd1Data) error {
	var echo *echoProc
	if c.floors {
		var err error
		if echo, err = startEcho(); err != nil {
			return fmt.Errorf("ping-pong: %w", err)
		}
		defer echo.stop()
		d.pingLat = make([][][]time.Duration, len(pingShapes))
		d.syncLat = make([][][]time.Duration, len(syncFloors))
	}
	for _, t := range d.targets {
		d.goLat[t.Name] = make([][][]time.Duration, len(d.cases))
	}
	if c.clients {
		d.clients = qd1ClientRows()
	}
	for round := range c.rounds {
		order := make([]*target, len(d.targets))
		for i := range d.targets {
			order[i] = d.targets[(i+round)%len(d.targets)]
		}
		if c.floors {
			for i, s := range pingShapes {
				lat, err := echo.pingPong(s, c.pingIOs)
				if err != nil {
					return fmt.Errorf("%s: %w", s.Name, err)
				}
				d.pingLat[i] = append(d.pingLat[i], lat)
				d.record("floor", s.Name, "-", round, lat)
			}
			for i, f := range syncFloors {
				syncAll()
				lat, err := runSyncFloor(d.file, f, c.syncIOs, uint64(round))
				if err != nil {
					return err
				}
				d.syncLat[i] = append(d.syncLat[i], lat)
				d.record("sync floor", f.Name, "-", round, lat)
			}
		}
		for i, cs := range d.cases {
			n := c.ios
			if cs.Op == opWriteFUA || cs.Op == opWriteSync {
				n = c.syncIOs
			}
			lats, err := runSlices(ctx, c, order, cs, n, round)
			if err != nil {
				return err
			}
			for _, t := range order {
				lat := lats[t.Name]
				d.goLat[t.Name][i] = append(d.goLat[t.Name][i], lat)
				st := d.record("go", cs.Name, t.Name, round, lat)
				logf("round %d %-28s %-9s p50 %7.1f µs p99 %7.1f µs mean %7.1f µs", round+1, cs.Name, t.Name, st.P50, st.P99, st.Mean)
			}
		}
		for i := range d.clients {
			cl := &d.clients[i]
			for _, t := range order {
				v, err := cl.run(ctx, c, t)
				if ctx.Err() != nil {
					return ctx.Err()
				}
				if err != nil {
					return fmt.Errorf("%s on %s: %w", cl.Case, t.Name, err)
				}
				if cl.Vals == nil {
					cl.Vals = map[string][]float64{}
				}
				cl.Vals[t.Name] = append(cl.Vals[t.Name], v)
				d.runs = append(d.runs, qd1Run{Section: "client", Case: cl.Case + " (" + cl.How + ")", Target: t.Name,
					Round: round + 1, P50: math.NaN(), Mean: v})
				logf("round %d %-28s %-9s mean %7.1f µs", round+1, cl.Case, t.Name, v)
			}
		}
	}
	return nil
}

// runSlices runs n IOs of cs on each target of order in c.slices runs per target,
// the targets taking turns run by run and the order rotating with each slice; every
// target's runs of one slice use the same offsets. It returns each target's
// latencies, in the order measured.
func runSlices(ctx context.Context, c *qd1Config, order []*target, cs qd1Case, n, round int) (map[string][]time.Duration, error) {
	lats := map[string][]time.Duration{}
	for s := range c.slices {
		k := n*(s+1)/c.slices - n*s/c.slices // the slices' sizes differ by one at most and add up to n
		seed := uint64(round) + uint64(s)<<32
		for j := range order {
			t := order[(j+s)%len(order)]
			if cs.Write() {
				syncAll()
			}
			lat, err := runQD1Case(t.URL, qd1Initiator, cs.Op, k, seed)
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if err != nil {
				return nil, fmt.Errorf("%s on %s: %w", cs.Name, t.Name, err)
			}
			lats[t.Name] = append(lats[t.Name], lat...)
			if cs.Write() {
				syncAll()
			}
		}
	}
	return lats, nil
}

// addCleanup has stopAll stop t however the run ends.
func addCleanup(t *target) {
	cleanup.Lock()
	cleanup.targets = append(cleanup.targets, t)
	cleanup.Unlock()
}

// placeRun pins this process (the Go initiator, and the clients it starts) and the
// targets as -place asks, and returns the undo.
func placeRun(place string, ts []*target) (func(), error) {
	targetCPU := 0
	if place == "two" {
		targetCPU = 1
	}
	clientCPUs = []int{0}
	if err := pinProcess(os.Getpid(), clientCPUs...); err != nil {
		return nil, err
	}
	for _, t := range ts {
		if err := pinProcess(t.PID, targetCPU); err != nil {
			return nil, fmt.Errorf("pin %s: %w", t.Name, err)
		}
	}
	logf("pinned: client on CPU 0, targets on CPU %d", targetCPU)
	return func() {
		clientCPUs = nil
		pinProcess(os.Getpid()) //nolint:errcheck // best effort
	}, nil
}
