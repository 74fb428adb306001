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
	"strconv"
	"strings"
	"syscall"
	"time"
)

// qd1Initiator is the initiator name of the QD1 runs (traced runs add a suffix).
const qd1Initiator = "iqn.2026-11.dev.atgt:atgtbench-qd1"

// qd1Config holds the flags of qd1 mode.
type qd1Config struct {
	atgtBin      string
	rounds       int
	ios          int // per Go-initiator case, target and round
	syncIOs      int // the same for the FUA and SYNC CACHE cases and the direct sync floor
	pingIOs      int
	traceIOs     int
	perfTime     time.Duration
	qemuCount    int
	qemuSync     int
	dir          string
	size         int64
	out          string
	clients      bool
	keep         bool
	traceEnabled bool
}

func parseQD1Flags(args []string) (*qd1Config, error) {
	fs := flag.NewFlagSet("atgtbench qd1", flag.ContinueOnError)
	c := &qd1Config{}
	fs.StringVar(&c.atgtBin, "atgtd", "", "use this atgtd binary instead of building ./cmd/atgtd")
	fs.IntVar(&c.rounds, "rounds", 3, "rounds; each runs every case on atgt and tgt back to back, the order alternating")
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
	if c.perfTime < 2*time.Second {
		return nil, errors.New("-perf-time: at least 2s (iscsi-perf prints its first average after a second)")
	}
	if c.size < 1<<20 {
		return nil, errors.New("-size: at least 1 MiB")
	}
	c.traceEnabled = c.traceIOs > 0
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

// qd1Run is one measured figure of one round, for qd1-runs.csv.
type qd1Run struct {
	Section, Case, Target string
	Round                 int
	N                     int
	P50, Mean             float64 // µs
}

// qd1 runs the benchmark and writes its outputs; it returns the report and its tables.
func qd1(ctx context.Context, c *qd1Config) (string, []qd1Section, error) {
	started := time.Now()
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
	file := filepath.Join(workDir, "lun.img")
	logf("backing file %s (%d bytes, %s)", file, c.size, fsName(workDir))
	if err := makeBackingFile(file, c.size); err != nil {
		return "", nil, fmt.Errorf("backing file: %w", err)
	}
	ring := min(max(256, 2*(c.traceIOs+8)), 65536)
	atgt, err := startAtgt(ctx, workDir, file, c.size, nil, map[string]any{"traceRingTasks": ring}, c.atgtBin, logf)
	if err != nil {
		return "", nil, fmt.Errorf("atgtd: %w", err)
	}
	addCleanup(atgt)
	tgt, err := startTgt(ctx, workDir, file, logf)
	if err != nil {
		return "", nil, fmt.Errorf("tgtd: %w", err)
	}
	addCleanup(tgt)
	logf("atgtd pid %d at %s; tgtd pid %d at %s", atgt.PID, atgt.URL, tgt.PID, tgt.URL)
	if err := warmFile(file); err != nil {
		return "", nil, fmt.Errorf("warm: %w", err)
	}
	echo, err := startEcho()
	if err != nil {
		return "", nil, fmt.Errorf("ping-pong: %w", err)
	}
	defer echo.stop()

	var runs []qd1Run
	record := func(section, cs, t string, round int, lat []time.Duration) {
		st := latencyStats([][]time.Duration{lat})
		runs = append(runs, qd1Run{Section: section, Case: cs, Target: t, Round: round + 1, N: st.N, P50: st.P50, Mean: st.Mean})
	}
	goLat := make([][2][][]time.Duration, len(qd1Cases)) // case, target (0 atgt, 1 tgt), round
	pingLat := make([][][]time.Duration, len(pingShapes))
	syncLat := make([][][]time.Duration, len(syncFloors))
	clientMeans := qd1ClientRows()
	for round := range c.rounds {
		order := []*target{atgt, tgt}
		if round%2 == 1 {
			order = []*target{tgt, atgt}
		}
		for i, s := range pingShapes {
			lat, err := echo.pingPong(s, c.pingIOs)
			if err != nil {
				return "", nil, fmt.Errorf("%s: %w", s.Name, err)
			}
			pingLat[i] = append(pingLat[i], lat)
			record("floor", s.Name, "-", round, lat)
		}
		for i, f := range syncFloors {
			syncAll()
			lat, err := runSyncFloor(file, f, c.syncIOs, uint64(round))
			if err != nil {
				return "", nil, err
			}
			syncLat[i] = append(syncLat[i], lat)
			record("sync floor", f.Name, "-", round, lat)
		}
		for i, cs := range qd1Cases {
			n := c.ios
			if cs.Op == opWriteFUA || cs.Op == opWriteSync {
				n = c.syncIOs
			}
			for _, t := range order {
				if cs.Write() {
					syncAll()
				}
				lat, err := runQD1Case(t.URL, qd1Initiator, cs.Op, n, uint64(round))
				if ctx.Err() != nil {
					return "", nil, ctx.Err()
				}
				if err != nil {
					return "", nil, fmt.Errorf("%s on %s: %w", cs.Name, t.Name, err)
				}
				ti := 0
				if t == tgt {
					ti = 1
				}
				goLat[i][ti] = append(goLat[i][ti], lat)
				record("go", cs.Name, t.Name, round, lat)
				st := latencyStats([][]time.Duration{lat})
				logf("round %d %-28s %-4s p50 %7.1f µs p99 %7.1f µs mean %7.1f µs", round+1, cs.Name, t.Name, st.P50, st.P99, st.Mean)
			}
		}
		if cs := qd1Cases[len(qd1Cases)-1]; cs.Write() {
			syncAll()
		}
		if c.clients {
			for i := range clientMeans {
				for _, t := range order {
					v, err := clientMeans[i].run(ctx, c, t)
					if ctx.Err() != nil {
						return "", nil, ctx.Err()
					}
					if err != nil {
						return "", nil, fmt.Errorf("%s on %s: %w", clientMeans[i].Case, t.Name, err)
					}
					if t == atgt {
						clientMeans[i].Atgt = append(clientMeans[i].Atgt, v)
					} else {
						clientMeans[i].Tgt = append(clientMeans[i].Tgt, v)
					}
					runs = append(runs, qd1Run{Section: "client", Case: clientMeans[i].Case, Target: t.Name, Round: round + 1, P50: math.NaN(), Mean: v})
					logf("round %d %-28s %-4s mean %7.1f µs", round+1, clientMeans[i].Case, t.Name, v)
				}
			}
		}
	}
	var traced []*tracedCase
	if c.traceEnabled {
		logf("traced run on atgt (%d IOs per case)", c.traceIOs)
		if traced, err = runTraced(ctx, atgt, c.traceIOs, 99); err != nil {
			return "", nil, err
		}
	}
	stopAll()

	var sections []qd1Section
	var pairs []pairStats
	for i, cs := range qd1Cases {
		pairs = append(pairs, pairStats{Case: cs.Name, Atgt: latencyStats(goLat[i][0]), Tgt: latencyStats(goLat[i][1])})
	}
	sections = append(sections, goSection(pairs, c.rounds))
	if c.clients {
		rows := make([]clientRow, len(clientMeans))
		for i, m := range clientMeans {
			rows[i] = m.clientRow
		}
		sections = append(sections, clientSection(rows))
	}
	var floors []floorRow
	for i, s := range pingShapes {
		floors = append(floors, floorRow{Case: s.Name, Stats: latencyStats(pingLat[i])})
	}
	sections = append(sections, floorSection("The floor: loopback TCP round trip, no target (µs)",
		"Two Go processes (this one and an echo child) on 127.0.0.1, TCP_NODELAY, one message in flight; "+
			"the round trip from the request's write to the whole reply read.", floors))
	sections = append(sections, syncSection(file, syncLat, pairs))
	for i, tc := range traced {
		sections = append(sections, traceSection(tc, qd1Cases[i].Opcodes))
	}
	machine := machineInfo()
	if atgt.Procs != "" {
		machine += fmt.Sprintf("; atgtd runs Go code on %s CPUs (maxProcs)", atgt.Procs)
	}
	var md strings.Builder
	fmt.Fprintf(&md, "# atgt vs tgt at queue depth 1, %s\n\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&md, "Machine: %s.\n\nCommand: `atgtbench qd1 %s` (took %s). Backing file: %d bytes on %s, in the page cache; "+
		"4 KiB IOs at random 4 KiB-aligned offsets.\n\n", machine, strings.Join(os.Args[2:], " "),
		time.Since(started).Round(time.Second), c.size, fsName(workDir))
	for _, s := range sections {
		md.WriteString(s.markdown())
	}
	err = writeQD1Outputs(c.out, md.String(), sections, runs)
	return md.String(), sections, err
}

// addCleanup has stopAll stop t however the run ends.
func addCleanup(t *target) {
	cleanup.Lock()
	cleanup.targets = append(cleanup.targets, t)
	cleanup.Unlock()
}

// syncSection compares making a 4 KiB write stable directly on the file with the
// same through each target (issue 19, part 3).
func syncSection(file string, syncLat [][][]time.Duration, pairs []pairStats) qd1Section {
	var rows []floorRow
	for i, f := range syncFloors {
		rows = append(rows, floorRow{Case: f.Name, Stats: latencyStats(syncLat[i])})
	}
	direct := map[string]latStats{}
	for _, r := range rows {
		direct[r.Case] = r.Stats
	}
	for _, p := range pairs {
		if p.Case == qd1Cases[2].Name || p.Case == qd1Cases[3].Name {
			rows = append(rows, floorRow{Case: p.Case + " via atgt", Stats: p.Atgt}, floorRow{Case: p.Case + " via tgt", Stats: p.Tgt})
		}
	}
	s := floorSection("Flush cost: the file's own sync vs SYNCHRONIZE CACHE and FUA through the targets (µs)",
		fmt.Sprintf("Direct calls on the backing file (%s) with no target, beside the Go-initiator rows above "+
			"(whose latency includes the network round trip); the gap column is the p50 above the matching direct call "+
			"(write + SYNC CACHE vs pwrite + fdatasync, FUA vs pwritev2 RWF_DSYNC).", fsName(filepath.Dir(file))),
		rows)
	s.Header = append(s.Header, "p50 gap over direct")
	ref := map[string]string{
		qd1Cases[2].Name: syncFloors[2].Name, // FUA write: pwritev2 RWF_DSYNC
		qd1Cases[3].Name: syncFloors[1].Name, // write + SYNC CACHE: pwrite + fdatasync
	}
	for i := range s.Rows {
		gap := ""
		for cs, d := range ref {
			if strings.HasPrefix(rows[i].Case, cs+" via") {
				gap = us(rows[i].Stats.P50 - direct[d].P50)
			}
		}
		s.Rows[i] = append(s.Rows[i], gap)
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
	args := []string{"bench", "-f", "raw", "-t", "none", "-d", "1", "-s", "4096", "-c", strconv.Itoa(count)}
	if write {
		args = append(args, "-w")
	}
	if flush {
		args = append(args, "--flush-interval=1")
	}
	args = append(args, url)
	cmd := exec.CommandContext(ctx, "qemu-img", args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("qemu-img %s: %v\n%s", strings.Join(args, " "), err, lastLines(string(out), 5))
	}
	secs, err := parseQemuBench(string(out))
	if err != nil {
		return 0, err
	}
	return secs * 1e6 / float64(count), nil
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
