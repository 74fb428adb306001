// Command atgtbench benchmarks atgt against tgt (Debian's userspace iSCSI target) side
// by side on one machine: it builds and starts atgtd and tgtd on loopback ports, both
// serving the same 1 GiB file with the same negotiable keys (fairness.go; one target
// is driven at a time), warms the page cache, and runs each case, after an untimed
// warm-up on each, alternately on the two targets with the module's Go initiator
// (the paper's micro-benchmarks), libiscsi's iscsi-perf and qemu-img bench. It prints
// one table (case, atgt, tgt, ratio, target CPU seconds per GB) and writes it as CSV,
// Markdown and a PNG chart of the ratios.
//
//	go run ./cmd/atgtbench                    # full run, results in ./bench-out
//	go run ./cmd/atgtbench -quick             # smoke test, a few seconds per case
//	go run ./cmd/atgtbench -cases 'rand read' -ios 20000 -repeats 3
//	go run ./cmd/atgtbench -atgt-url iscsi://127.0.0.1:3260/iqn.2026-11.dev.atgt:default/0 -atgt-pid 1234 ...
//
// `atgtbench paper` reproduces the evaluation of the paper atgt follows, for each of
// atgt's IO policies and for tgt, from a cold page cache on a real disk (paper.go;
// the comparison is PAPER.md):
//
//	go run ./cmd/atgtbench paper -macro all -out cmd/atgtbench/paper   # make paper
//
// `atgtbench qd1` measures the latency of one command at a time (queue depth 1),
// atgt beside tgt, with the floors and atgt's per-hop breakdown (qd1.go).
package main

import (
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type config struct {
	quick          bool
	cases          *regexp.Regexp
	ios, qd        int
	repeats        int
	out            string
	atgtURL        string
	tgtURL         string
	atgtPID        int
	tgtPID         int
	stat           string
	sizes          []int
	perfSeconds    time.Duration
	qemuCount      int
	qemuCountLarge int
	file           string
	fileDir        string
	size           int64
	atgtBin        string
	atgtWorkers    uint32
	keep           bool
	iperfSeconds   time.Duration
	// rbd is -rbd POOL/IMAGE (rbd.go), cephConf its cluster's ceph.conf, and
	// iosLarge the IOs of the Go cases of 128 KiB and more (0: ios).
	rbd, cephConf string
	iosLarge      int
	// tgtParams is "match" (tgt offers atgt's keys, benchNegotiation) or "default"
	// (each target its own defaults, as before 2026-12-01); tgtThreads is tgtd's -t
	// (0: tgt's default); warmup runs each case once per target untimed first.
	tgtParams  string
	tgtThreads int
	warmup     bool
}

// tgtOpts is how tgtd is set up in the normal mode.
func (c *config) tgtOpts() tgtOptions {
	return tgtOptions{Match: c.tgtParams == "match", Threads: c.tgtThreads}
}

// atgtCfgFields are the config fields atgtd gets in the normal mode: with -tgt-params
// match, the keys both targets offer, spelled out.
func (c *config) atgtCfgFields() map[string]any {
	if c.tgtParams != "match" {
		return nil
	}
	return map[string]any{"negotiation": atgtNegotiation()}
}

func main() {
	if os.Getenv(echoEnv) != "" {
		os.Exit(echoMain())
	}
	if len(os.Args) > 1 && os.Args[1] == "paper" {
		os.Exit(runPaper(os.Args[2:]))
	}
	if len(os.Args) > 1 && os.Args[1] == "qd1" {
		os.Exit(runQD1(os.Args[2:]))
	}
	os.Exit(run())
}

func parseFlags() (*config, error) {
	c := &config{}
	flag.BoolVar(&c.quick, "quick", false, "smoke test: few IOs, 1 repeat, short client runs")
	casesRE := flag.String("cases", "", "run only the cases whose name matches this regexp (e.g. 'go rand', 'qemu|perf', '4K$'); see -list")
	list := flag.Bool("list", false, "list the case names and exit")
	flag.IntVar(&c.ios, "ios", 50000, "IOs per Go-initiator case")
	flag.IntVar(&c.qd, "qd", 32, "queue depth (commands in flight) for every client")
	flag.IntVar(&c.repeats, "repeats", 3, "runs per case and target, alternating atgt and tgt")
	flag.StringVar(&c.out, "out", "bench-out", "output directory for results.csv, results.md, raw.csv, ratios.png")
	flag.StringVar(&c.atgtURL, "atgt-url", "", "benchmark this running atgt (iscsi://HOST:PORT/IQN/LUN) instead of starting atgtd")
	flag.StringVar(&c.tgtURL, "tgt-url", "", "benchmark this running tgt (iscsi://HOST:PORT/IQN/LUN) instead of starting tgtd")
	flag.IntVar(&c.atgtPID, "atgt-pid", 0, "with -atgt-url: PID of the target process, for CPU per GB")
	flag.IntVar(&c.tgtPID, "tgt-pid", 0, "with -tgt-url: PID of the target process, for CPU per GB")
	flag.StringVar(&c.stat, "stat", "median", "how repeats are reduced: median or best")
	sizes := flag.String("sizes", "2,4,8,16,32,128", "IO sizes in KiB of the Go-initiator cases")
	flag.DurationVar(&c.perfSeconds, "perf-time", 10*time.Second, "how long each iscsi-perf run lasts before SIGINT")
	flag.IntVar(&c.qemuCount, "qemu-count", 100000, "qemu-img bench -c for 4 KiB IOs")
	flag.IntVar(&c.qemuCountLarge, "qemu-count-large", 16384, "qemu-img bench -c for 128 KiB IOs (16384 = 2 GiB, wrapping the 1 GiB LUN)")
	flag.StringVar(&c.file, "file", "", "backing file for both targets (default: a fresh file in -file-dir)")
	flag.Int64Var(&c.size, "size", 1<<30, "backing file size in bytes")
	flag.StringVar(&c.fileDir, "file-dir", "/dev/shm", "directory for the default backing file; tmpfs keeps the disk's "+
		"writeback out of the write figures (falls back to a temporary directory if missing or too small; \"\" = temporary directory)")
	flag.StringVar(&c.atgtBin, "atgtd", "", "use this atgtd binary instead of building ./cmd/atgtd")
	workers := flag.Uint("atgt-workers", 0, "IO workers of atgt's LUN (0: atgt's default)")
	flag.BoolVar(&c.keep, "keep", false, "keep the temporary directory (backing file, configs, target logs)")
	flag.DurationVar(&c.iperfSeconds, "iperf-time", 5*time.Second, "iperf3 loopback run time (if iperf3 is installed)")
	flag.StringVar(&c.rbd, "rbd", "", "benchmark atgt's RBD backend on this Ceph image (POOL/IMAGE, made with -size and filled if missing) "+
		"beside tgt-rbd and librbd direct (rbd bench); default cases: 4K random and 128K sequential")
	flag.StringVar(&c.cephConf, "ceph-conf", "", "with -rbd: the cluster's ceph.conf (default: scripts/ceph-up.sh's one-node test cluster)")
	flag.IntVar(&c.iosLarge, "ios-large", 0, "IOs per Go-initiator case of 128 KiB and more (0: -ios; with -rbd: 2500)")
	flag.StringVar(&c.tgtParams, "tgt-params", "match", "match: tgt's target offers atgt's negotiation keys (InitialR2T=No, "+
		"ImmediateData=Yes, MaxRecvDataSegmentLength 262144, MaxBurstLength 1048576, FirstBurstLength 262144, MaxOutstandingR2T 16); "+
		"default: each target offers its own defaults (tgt: InitialR2T=Yes, 8192, 262144, 65536, 1), as atgtbench did before")
	flag.IntVar(&c.tgtThreads, "tgt-threads", 0, fmt.Sprintf("tgtd's bs_rdwr IO threads (tgtd -t); 0: tgt's default, %d. "+
		"atgt's IO workers are -atgt-workers (default %d)", tgtDefaultThreads, atgtDefaultWorkers))
	flag.BoolVar(&c.warmup, "warmup", true, "run each case once on each target untimed before its timed runs")
	flag.Parse()
	if flag.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", flag.Arg(0))
	}
	c.atgtWorkers = uint32(*workers)
	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if c.rbd != "" {
		if !set["cases"] {
			*casesRE = rbdDefaultCases
		}
		if !set["sizes"] {
			*sizes = "4,128"
		}
		if !set["ios"] {
			c.ios = 20000
		}
		if !set["ios-large"] {
			c.iosLarge = 2500
		}
	}
	if c.quick {
		if !set["ios"] {
			c.ios = 2000
		}
		if !set["repeats"] {
			c.repeats = 1
		}
		if !set["perf-time"] {
			c.perfSeconds = 3 * time.Second
		}
		if !set["qemu-count"] {
			c.qemuCount = 5000
		}
		if !set["qemu-count-large"] {
			c.qemuCountLarge = 500
		}
		if !set["iperf-time"] {
			c.iperfSeconds = 2 * time.Second
		}
	}
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 || n > 1024 {
			return nil, fmt.Errorf("-sizes: bad size %q (KiB, 1..1024)", s)
		}
		c.sizes = append(c.sizes, n*1024)
	}
	if c.ios <= 0 || c.qd <= 0 || c.repeats <= 0 {
		return nil, errors.New("-ios, -qd and -repeats must be positive")
	}
	if c.tgtParams != "match" && c.tgtParams != "default" {
		return nil, fmt.Errorf("-tgt-params %q: want match or default", c.tgtParams)
	}
	if c.tgtThreads < 0 {
		return nil, errors.New("-tgt-threads must not be negative")
	}
	if c.stat != "median" && c.stat != "best" {
		return nil, fmt.Errorf("-stat %q: want median or best", c.stat)
	}
	var err error
	if c.cases, err = regexp.Compile(*casesRE); err != nil {
		return nil, fmt.Errorf("-cases: %v", err)
	}
	if *list {
		for _, bc := range buildCases(c) {
			fmt.Println(bc.Name)
		}
		fmt.Println(iperfCase)
		os.Exit(0)
	}
	return c, nil
}

func stopAll() {
	cleanup.Lock()
	defer cleanup.Unlock()
	for _, t := range cleanup.targets {
		t.stop()
	}
	cleanup.targets = nil
	for _, d := range cleanup.dirs {
		os.RemoveAll(d)
	}
	cleanup.dirs = nil
}

// stopOnSignal returns the context a run works under: SIGINT or SIGTERM cancels it,
// stops the targets the run started and exits 130.
func stopOnSignal() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		s := <-sig
		logf("%v: stopping the targets", s)
		cancel()
		stopAll()
		os.Exit(130)
	}()
	return ctx, cancel
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "atgtbench: "+format+"\n", args...)
}

func run() int {
	c, err := parseFlags()
	if err != nil {
		fmt.Fprintf(os.Stderr, "atgtbench: %v\n", err)
		return 2
	}
	ctx, cancel := stopOnSignal()
	defer cancel()
	defer stopAll()

	cases := buildCases(c)
	wantIperf := c.cases.MatchString(iperfCase)
	if len(cases) == 0 && !wantIperf {
		logf("no case matches -cases %q (see -list)", c.cases)
		return 2
	}
	if err := os.MkdirAll(c.out, 0o755); err != nil {
		logf("%v", err)
		return 1
	}
	workDir, err := os.MkdirTemp("", "atgtbench-")
	if err != nil {
		logf("%v", err)
		return 1
	}
	if c.keep {
		logf("work directory %s (kept)", workDir)
	} else {
		defer os.RemoveAll(workDir)
	}

	var atgt, tgt *target
	var rbdImg rbdImage
	if c.rbd != "" {
		if rbdImg, err = prepareRBD(ctx, c); err != nil {
			logf("%v", err)
			return 1
		}
		if atgt, tgt, err = startRBDTargets(ctx, c, rbdImg, workDir); err != nil {
			logf("%v", err)
			return 1
		}
	} else if c.atgtURL == "" || c.tgtURL == "" {
		file := c.file
		if file == "" {
			dir := workDir
			if c.fileDir != "" && hasRoom(c.fileDir, c.size) {
				d, err := os.MkdirTemp(c.fileDir, "atgtbench-")
				if err == nil {
					cleanup.Lock()
					cleanup.dirs = append(cleanup.dirs, d)
					cleanup.Unlock()
					dir = d
				}
			}
			file = filepath.Join(dir, "lun.img")
		}
		file, _ = filepath.Abs(file)
		logf("backing file %s (%d bytes)", file, c.size)
		if err := makeBackingFile(file, c.size); err != nil {
			logf("backing file: %v", err)
			return 1
		}
		if c.atgtURL == "" {
			fields := map[string]any{}
			if c.atgtWorkers > 0 {
				fields["workers"] = c.atgtWorkers
			}
			if atgt, err = startAtgt(ctx, workDir, file, c.size, fields, c.atgtCfgFields(), c.atgtBin, logf); err != nil {
				logf("atgtd: %v", err)
				return 1
			}
			cleanup.Lock()
			cleanup.targets = append(cleanup.targets, atgt)
			cleanup.Unlock()
			logf("atgtd pid %d serving %s", atgt.PID, atgt.URL)
		}
		if c.tgtURL == "" {
			if tgt, err = startTgtLUN(ctx, workDir, []string{"-b", file}, c.tgtOpts(), logf); err != nil {
				logf("tgtd: %v", err)
				return 1
			}
			cleanup.Lock()
			cleanup.targets = append(cleanup.targets, tgt)
			cleanup.Unlock()
			logf("tgtd pid %d serving %s", tgt.PID, tgt.URL)
		}
		logf("warming the page cache")
		if err := warmFile(file); err != nil {
			logf("warm: %v", err)
			return 1
		}
	}
	if atgt == nil {
		atgt = &target{Name: "atgt", URL: c.atgtURL, PID: c.atgtPID}
	}
	if tgt == nil {
		tgt = &target{Name: "tgt", URL: c.tgtURL, PID: c.tgtPID}
	}
	for _, u := range []string{atgt.URL, tgt.URL} {
		if _, err := parseISCSIURL(u); err != nil {
			logf("%v", err)
			return 2
		}
	}

	fair := describeFairness(c, atgt, tgt)
	started := time.Now()
	var rows []row
	var refs librbdRefs
	var raw [][]string
	warm := 0
	if c.warmup {
		warm = 1
	}
	for i, bc := range cases {
		r := row{Case: bc.Name, Unit: bc.Unit}
		// Pair k = warm is the first timed repeat; the pairs before it are the
		// warm-up, run alike on both targets and discarded.
		for k := 0; k < warm+c.repeats; k++ {
			rep := k - warm
			order := []*target{atgt, tgt}
			if !atgtFirst(i, k) {
				order = []*target{tgt, atgt}
			}
			if rep >= 0 {
				if order[0] == atgt {
					fair.AtgtFirst++
				} else {
					fair.TgtFirst++
				}
			}
			for _, t := range order {
				if bc.Write {
					syncAll()
				}
				s, out, err := bc.Run(ctx, t)
				if ctx.Err() != nil {
					return 130
				}
				if rep < 0 {
					if err != nil {
						logf("%s on %s, warm-up (discarded): %v", bc.Name, t.Name, err)
					} else {
						logf("%-26s %-4s warm-up: %s %s (discarded)", bc.Name, t.Name, fmtValue(s.Value, bc.Unit), bc.Unit)
					}
					continue
				}
				if err != nil {
					logf("%s on %s: %v", bc.Name, t.Name, err)
					if out != "" {
						logf("output:\n%s", lastLines(out, 10))
					}
					r.Note = "errors"
					raw = append(raw, []string{bc.Name, t.Name, strconv.Itoa(rep + 1), "error", "", "", "", "", err.Error()})
					continue
				}
				logf("%-26s %-4s run %d: %s %s, target CPU %s s/GB, client CPU %s s/GB", bc.Name, t.Name, rep+1,
					fmtValue(s.Value, bc.Unit), bc.Unit, fmtFloat(s.CPUPerGB, 2), fmtFloat(s.ClientCPUPerGB, 2))
				if s.Busy > 0 || s.Short > 0 {
					logf("%s on %s run %d: %d commands answered BUSY, %d bytes asked for and not moved (left out of the figure)",
						bc.Name, t.Name, rep+1, s.Busy, s.Short)
				}
				raw = append(raw, []string{bc.Name, t.Name, strconv.Itoa(rep + 1),
					strconv.FormatFloat(s.Value, 'f', 1, 64), fmtFloat(s.CPUPerGB, 3), fmtFloat(s.ClientCPUPerGB, 3),
					strconv.Itoa(s.Busy), strconv.FormatInt(s.Short, 10), ""})
				s.Rep = rep
				if t == atgt {
					r.Atgt = append(r.Atgt, s)
				} else {
					r.Tgt = append(r.Tgt, s)
				}
			}
			if c.rbd != "" && rep >= 0 {
				refs.run(ctx, c, rbdImg, bc, rep)
			}
		}
		if bc.Write {
			syncAll()
		}
		rows = append(rows, r)
	}
	rows = append(rows, refs.rows...)
	var iperfBps float64
	if wantIperf {
		r := row{Case: iperfCase, Unit: "MB/s", Ref: true}
		bps, err := runIperf3(ctx, c.iperfSeconds)
		switch {
		case errors.Is(err, errNotInstalled):
			r.Note = "n/a"
		case err != nil:
			logf("%v", err)
			r.Note = "error"
		default:
			iperfBps = bps
			r.Atgt = []sample{{Value: bps / 1e6, CPUPerGB: math.NaN(), ClientCPUPerGB: math.NaN()}}
		}
		rows = append(rows, r)
	}
	stopAll()

	ss := summarize(rows, c.stat)
	fmt.Print(textTable(ss))
	machine := machineInfo()
	if atgt.Procs != "" {
		machine += fmt.Sprintf("; atgtd runs Go code on %s CPUs (maxProcs)", atgt.Procs)
	}
	notes := resultNotes(ss, iperfBps, wantIperf)
	notes = append(notes, accountingNotes(rows)...)
	if g, n := geomeanPaired(ss); n > 0 {
		notes = append(notes, fmt.Sprintf("Geometric mean of the paired ratios over the %d cases with one: %.2fx.", n, g))
	}
	if c.rbd != "" {
		machine += "; " + rbdMachine(rbdImg)
		notes = append(notes, rbdNotes(ss)...)
		writeBudget(c.out, rows)
	}
	for _, n := range notes {
		fmt.Println(n)
	}
	fmt.Printf("%s; %d repeats (%s), QD %d, %d IOs per Go case; took %s\n", machine, c.repeats, c.stat, c.qd, c.ios,
		time.Since(started).Round(time.Second))
	if err := writeOutputs(c, ss, raw, machine, fair, notes, time.Since(started)); err != nil {
		logf("%v", err)
		return 1
	}
	logf("wrote %s/{results.csv,results.md,raw.csv,ratios.png}", c.out)
	for _, r := range rows {
		if r.Note == "errors" {
			return 1
		}
	}
	return 0
}

func syncAll() { syscall.Sync() }

func lastLines(s string, n int) string {
	s = strings.ReplaceAll(s, "\r", "\n")
	ls := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	return strings.Join(ls, "\n")
}

// resultNotes states the comparison with iperf3 where both figures exist.
func resultNotes(ss []summary, iperfBps float64, wanted bool) []string {
	var notes []string
	if !wanted {
		return nil
	}
	if iperfBps <= 0 {
		notes = append(notes, "iperf3 loopback: n/a (iperf3 not installed or failed)")
		return notes
	}
	for _, s := range ss {
		if s.Unit == "MB/s" && !s.Ref && strings.Contains(s.Case, "read 128K") && !math.IsNaN(s.Atgt) {
			notes = append(notes, fmt.Sprintf("%s: atgt %.0f%% and tgt %.0f%% of iperf3's loopback %.0f MB/s",
				s.Case, 100*s.Atgt*1e6/iperfBps, 100*s.Tgt*1e6/iperfBps, iperfBps/1e6))
		}
	}
	return notes
}

// machineInfo describes the machine: CPU count and model, kernel, tgt version.
func machineInfo() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	kernel := "?"
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = strings.TrimSpace(string(b))
	}
	tgtv := "?"
	if out, err := exec.Command("tgtd", "-V").Output(); err == nil {
		tgtv = strings.TrimSpace(string(out))
	}
	return fmt.Sprintf("%d CPUs (%s), Linux %s, %s, tgt %s", runtime.NumCPU(), model, kernel, runtime.Version(), tgtv)
}

func writeOutputs(c *config, ss []summary, raw [][]string, machine string, fair fairness, notes []string, took time.Duration) error {
	f, err := os.Create(filepath.Join(c.out, "results.csv"))
	if err != nil {
		return err
	}
	if err := writeCSV(f, ss); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	var md strings.Builder
	fmt.Fprintf(&md, "# atgt vs tgt, %s\n\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&md, "Machine: %s.\n\n", machine)
	served := fmt.Sprintf("Both targets serve the same %d-byte file from the page cache; ", c.size)
	switch {
	case c.rbd != "":
		served = ""
	case c.atgtURL != "" && c.tgtURL != "":
		served = "Both targets were started elsewhere: what they serve is not known here; "
	case c.atgtURL != "" || c.tgtURL != "":
		served = "One target was started elsewhere (-atgt-url/-tgt-url): whether both serve the same data is not known here; "
	}
	fmt.Fprintf(&md, "Command: `go run ./cmd/atgtbench %s` (took %s). Queue depth %d; %d IOs per Go-initiator case; "+
		"%d timed runs per case and target; figures are the %s, CPU per GB the median. "+
		"%sratio = atgt / tgt of those figures, higher is better for atgt; "+
		"paired ratio = the median over repeats of atgt / tgt within each repeat (its two runs are back to back, "+
		"so a machine that speeds up or slows down during a case does not skew it); "+
		"CPU s/GB = target process user+system seconds per 1e9 bytes moved (lower is better). MB/s = 1e6 bytes/s; "+
		"the Go initiator counts the bytes the target moved (Data-In received, writes less their residual).\n\n",
		strings.Join(os.Args[1:], " "), took.Round(time.Second), c.qd, c.ios, c.repeats, c.stat, served)
	md.WriteString(fair.markdown() + "\n\n")
	if c.rbd != "" {
		fmt.Fprintf(&md, "RBD: both targets serve the image %s (%d bytes) of one cluster, atgt through its RBD backend "+
			"(librbd, no client cache), tgt through tgt-rbd (librbd with ceph.conf's defaults); \"librbd direct\" is `rbd bench` "+
			"of the same workload at the same queue depth (no client cache), run right after the two targets in each "+
			"repeat; the figures above about a file and its page cache do not apply.\n\n", c.rbd, c.size)
	}
	md.WriteString(markdownTable(ss))
	for _, n := range notes {
		md.WriteString("\n" + n + "\n")
	}
	if err := os.WriteFile(filepath.Join(c.out, "results.md"), []byte(md.String()), 0o644); err != nil {
		return err
	}
	f, err = os.Create(filepath.Join(c.out, "raw.csv"))
	if err != nil {
		return err
	}
	cw := csv.NewWriter(f)
	cw.Write([]string{"case", "target", "run", "value", "cpu_s_per_gb", "client_cpu_s_per_gb", "busy", "short_bytes", "error"}) //nolint:errcheck // checked by Error
	cw.WriteAll(raw)                                                                                                            //nolint:errcheck
	if err := cw.Error(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return writeChart(filepath.Join(c.out, "ratios.png"), ss, machine)
}
