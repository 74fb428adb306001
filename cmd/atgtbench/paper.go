package main

// `atgtbench paper`: the micro-benchmarks of Fujita and Ogawara's "Analysis of iSCSI
// Target Software" (Figures 6-9) on today's machine, for each of atgt's IO policies
// (the paper's designs) and for tgt, from a cold page cache on a file on a real disk.
// The macro-benchmarks (Tables 4 and 5) are in macro.go; PAPER.md compares all of
// them with the paper.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/atgt/atgt/actors/lun"
)

// paperConfig holds the flags of paper mode.
type paperConfig struct {
	ios, qd, repeats int
	sizes            []int
	policies         []string
	tgt              bool
	dir, file        string
	size             int64
	out              string
	cases            *regexp.Regexp
	atgtBin          string
	macro            string // "", "all", "postmark", "netserver"
	postmark         postmarkParams
	netFiles         []int
	netReads         int
	netTargetMem     int64
	keep             bool
	merge            []string
	workers          uint
	maxProcs         uint
}

// figure is one of the paper's micro-benchmark figures.
type figure struct {
	ID, Title     string
	Random, Write bool
}

// figures are the paper's Figures 6-9, in its order.
var figures = []figure{
	{ID: "fig6", Title: "Sequential write", Write: true},
	{ID: "fig7", Title: "Sequential read"},
	{ID: "fig8", Title: "Random write", Random: true, Write: true},
	{ID: "fig9", Title: "Random read", Random: true},
}

// paperName is the paper's name for a policy (or tgt).
func paperName(t string) string {
	switch t {
	case lun.PolicyThreaded:
		return "Threaded-Ardis"
	case lun.PolicySingle:
		return "UNH-file"
	case lun.PolicySingleSync:
		return "UNH-file-sync"
	case lun.PolicyDirect:
		return "UNH-disk"
	}
	return "today's peer"
}

func parsePaperFlags(args []string) (*paperConfig, error) {
	fs := flag.NewFlagSet("atgtbench paper", flag.ContinueOnError)
	c := &paperConfig{}
	fs.IntVar(&c.ios, "ios", 50000, "IOs per case and run (the paper: 50,000)")
	fs.IntVar(&c.qd, "qd", 32, "commands in flight")
	fs.IntVar(&c.repeats, "repeats", 3, "runs per case and target (alternating order); error bars span them")
	sizes := fs.String("sizes", "2,4,8,16,32", "IO sizes in KiB")
	policies := fs.String("policies", strings.Join(lun.Policies, ","), "atgt IO policies to run")
	fs.BoolVar(&c.tgt, "tgt", true, "run tgt beside the policies")
	fs.StringVar(&c.dir, "dir", "/var/tmp", "directory on a real disk (not tmpfs) for the backing file")
	fs.StringVar(&c.file, "file", "", "backing file (default: a fresh one in -dir, removed afterwards)")
	fs.Int64Var(&c.size, "size", 2<<30, "backing file size in bytes (holds a whole sequential case of 50,000 32 KiB IOs)")
	fs.StringVar(&c.out, "out", "paper-out", "output directory")
	casesRE := fs.String("cases", "", "run only the micro-benchmark figures whose id or title matches (e.g. 'fig7|Random read'); 'none' skips them")
	fs.StringVar(&c.atgtBin, "atgtd", "", "use this atgtd binary instead of building ./cmd/atgtd")
	fs.StringVar(&c.macro, "macro", "", "also run the macro-benchmarks: all, postmark or netserver (see PAPER.md)")
	fs.IntVar(&c.postmark.Files, "postmark-files", 20000, "Postmark files (the paper: 20,000)")
	fs.IntVar(&c.postmark.Transactions, "postmark-transactions", 50000, "Postmark transactions (the paper: 50,000)")
	netFiles := fs.String("net-files", "512,1024", "network server benchmark: numbers of 2 MiB files (the paper: 512 and 1024)")
	fs.IntVar(&c.netReads, "net-reads", 4096, "network server benchmark: whole-file reads per run (the paper: 4,096)")
	fs.Int64Var(&c.netTargetMem, "net-target-mem", 1<<30, "network server benchmark: the target's memory limit in bytes (cgroup), which bounds its page cache")
	fs.BoolVar(&c.keep, "keep", false, "keep the work directory (configs, logs)")
	fs.UintVar(&c.maxProcs, "max-procs", 0, "atgtd's maxProcs, the CPUs that run its Go code (0: atgtd's default, half the CPUs)")
	fs.UintVar(&c.workers, "workers", 0, "IO workers of the threaded and direct LUNs (0: atgt's default, 4)")
	merge := fs.String("merge", "", "run nothing: write one report into -out from the raw results (paper-runs.csv, macro-runs.csv) of these comma-separated output directories")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 || n > 1024 {
			return nil, fmt.Errorf("-sizes: bad size %q (KiB, 1..1024)", s)
		}
		c.sizes = append(c.sizes, n<<10)
	}
	for _, p := range strings.Split(*policies, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		if !slices.Contains(lun.Policies, p) {
			return nil, fmt.Errorf("-policies: %q is not one of %s", p, strings.Join(lun.Policies, ", "))
		}
		c.policies = append(c.policies, p)
	}
	for _, s := range strings.Split(*netFiles, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("-net-files: bad count %q", s)
		}
		c.netFiles = append(c.netFiles, n)
	}
	if c.ios <= 0 || c.qd <= 0 || c.repeats <= 0 {
		return nil, errors.New("-ios, -qd and -repeats must be positive")
	}
	if len(c.policies) == 0 && !c.tgt {
		return nil, errors.New("nothing to run: no -policies and -tgt=false")
	}
	switch c.macro {
	case "", "all", "postmark", "netserver":
	default:
		return nil, fmt.Errorf("-macro %q: want all, postmark or netserver", c.macro)
	}
	if *merge != "" {
		c.merge = strings.Split(*merge, ",")
	}
	var err error
	if c.cases, err = regexp.Compile(*casesRE); err != nil {
		return nil, fmt.Errorf("-cases: %v", err)
	}
	return c, nil
}

// paperRun is one run of one case on one target.
type paperRun struct {
	Fig    figure
	Size   int
	Target string // a policy or "tgt"
	Rep    int
	IOPS   float64
	MBps   float64
	CPU    float64 // target CPU s/GB, NaN if unknown
	Err    string
}

// runPaper is `atgtbench paper`; it returns the exit code.
func runPaper(args []string) int {
	c, err := parsePaperFlags(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "atgtbench paper: %v\n", err)
		return 2
	}
	ctx, cancel := stopOnSignal()
	defer cancel()
	defer stopAll()
	if len(c.merge) > 0 {
		if err := mergeRuns(c, c.merge); err != nil {
			logf("paper -merge: %v", err)
			return 1
		}
		logf("wrote %s from %s", c.out, strings.Join(c.merge, ", "))
		return 0
	}
	if err := paper(ctx, c); err != nil {
		logf("paper: %v", err)
		return 1
	}
	return 0
}

// paper runs the benchmarks of c and writes their outputs.
func paper(ctx context.Context, c *paperConfig) error {
	if os.Geteuid() != 0 {
		return errors.New("paper mode drops the page cache before each case (/proc/sys/vm/drop_caches): run it as root")
	}
	if err := os.MkdirAll(c.out, 0o755); err != nil {
		return err
	}
	workDir, err := os.MkdirTemp(c.dir, "atgtbench-paper-")
	if err != nil {
		return fmt.Errorf("-dir: %w", err)
	}
	if c.keep {
		logf("work directory %s (kept)", workDir)
	} else {
		defer os.RemoveAll(workDir)
	}
	file := c.file
	if file == "" {
		file = filepath.Join(workDir, "lun.img")
	}
	if file, err = filepath.Abs(file); err != nil {
		return err
	}
	if err := onRealDisk(filepath.Dir(file)); err != nil {
		return err
	}
	started := time.Now()
	var runs []paperRun
	var figs []figure
	for _, f := range figures {
		if c.cases.String() != "none" && (c.cases.MatchString(f.ID) || c.cases.MatchString(f.Title)) {
			figs = append(figs, f)
		}
	}
	if len(figs) > 0 {
		logf("backing file %s (%d bytes)", file, c.size)
		if err := makeBackingFile(file, c.size); err != nil {
			return fmt.Errorf("backing file: %w", err)
		}
		targets, err := startPaperTargets(ctx, c, workDir, file)
		if err != nil {
			return err
		}
		runs = microBenchmarks(ctx, c, figs, targets)
		stopAll()
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	var macro []macroResult
	if c.macro != "" {
		macro = macroBenchmarks(ctx, c, workDir)
	}
	machine := machineInfo()
	if err := writePaperOutputs(c, runs, figs, macro, machine, time.Since(started)); err != nil {
		return err
	}
	logf("wrote %s (paper.md, paper.csv, paper-runs.csv, fig*.png); took %s", c.out, time.Since(started).Round(time.Second))
	for _, r := range runs {
		if r.Err != "" {
			return fmt.Errorf("some runs failed (see %s/paper-runs.csv)", c.out)
		}
	}
	for _, m := range macro {
		if m.Err != "" {
			return fmt.Errorf("a macro-benchmark failed: %s on %s: %s", m.Bench, m.Target, m.Err)
		}
	}
	return nil
}

// onRealDisk refuses a directory in memory: the paper measures the disk under a cold
// page cache, which a tmpfs file does not have.
func onRealDisk(dir string) error {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return fmt.Errorf("statfs %s: %w", dir, err)
	}
	const tmpfsMagic, ramfsMagic = 0x01021994, 0x858458f6
	if st.Type == tmpfsMagic || st.Type == ramfsMagic {
		return fmt.Errorf("%s is in memory (tmpfs or ramfs): the paper's cold-cache cases need a file on a real disk; choose -dir or -file", dir)
	}
	return nil
}

// startPaperTargets starts one atgtd per policy and, with -tgt, tgtd, all serving
// file; one is driven at a time.
func startPaperTargets(ctx context.Context, c *paperConfig, workDir, file string) (map[string]*target, error) {
	bin, err := buildAtgtd(ctx, workDir, c.atgtBin, logf)
	if err != nil {
		return nil, err
	}
	targets := map[string]*target{}
	add := func(name string, t *target) {
		t.Name = name
		targets[name] = t
		cleanup.Lock()
		cleanup.targets = append(cleanup.targets, t)
		cleanup.Unlock()
		logf("%s: pid %d serving %s", name, t.PID, t.URL)
	}
	for _, p := range c.policies {
		dir := filepath.Join(workDir, p)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		t, err := startAtgt(ctx, dir, file, c.size, lunFields(c, p), cfgFields(c), bin, logf)
		if err != nil {
			return nil, fmt.Errorf("atgtd (%s): %w", p, err)
		}
		add(p, t)
	}
	if c.tgt {
		t, err := startTgt(ctx, workDir, file, logf)
		if err != nil {
			return nil, fmt.Errorf("tgtd: %w", err)
		}
		add("tgt", t)
	}
	return targets, nil
}

// lunFields are the LUN config fields of policy p's atgtd.
func lunFields(c *paperConfig, p string) map[string]any {
	f := map[string]any{"ioPolicy": p}
	if c.workers > 0 && !lun.OneWorker(p) {
		f["workers"] = c.workers
	}
	return f
}

// cfgFields are the config fields of every atgtd.
func cfgFields(c *paperConfig) map[string]any {
	if c.maxProcs > 0 {
		return map[string]any{"maxProcs": c.maxProcs}
	}
	return nil
}

// targetsFor lists the targets of a figure: single-sync differs from single only in
// writes, so, as in the paper, it runs only the write figures.
func targetsFor(c *paperConfig, f figure) []string {
	var ts []string
	for _, p := range c.policies {
		if p == lun.PolicySingleSync && !f.Write {
			continue
		}
		ts = append(ts, p)
	}
	if c.tgt {
		ts = append(ts, "tgt")
	}
	return ts
}

// microBenchmarks runs every case of figs: for each IO size, each repeat runs every
// target once, in an order rotated by the repeat, each from a cold page cache.
func microBenchmarks(ctx context.Context, c *paperConfig, figs []figure, targets map[string]*target) []paperRun {
	var runs []paperRun
	for _, f := range figs {
		names := targetsFor(c, f)
		for _, size := range c.sizes {
			gc := goCase{Random: f.Random, Write: f.Write, Size: size}
			for rep := range c.repeats {
				for i := range names {
					name := names[(i+rep)%len(names)]
					if ctx.Err() != nil {
						return runs
					}
					r := paperRun{Fig: f, Size: size, Target: name, Rep: rep}
					if err := coldCache(); err != nil {
						r.Err = err.Error()
						runs = append(runs, r)
						continue
					}
					t := targets[name]
					m := &cpuMeter{pid: t.PID}
					res, err := runGoCase(t.URL, gc, c.ios, c.qd, m.tick)
					if err != nil {
						r.Err = err.Error()
						logf("%s %s on %s: %v", f.ID, sizeName(size), name, err)
					} else {
						r.IOPS = float64(res.IOs) / res.Elapsed.Seconds()
						r.MBps = float64(res.Bytes) / res.Elapsed.Seconds() / 1e6
						r.CPU = m.perGB(float64(res.Bytes))
						logf("%s %-16s %4s %-11s run %d: %8.0f IOPS %7.1f MB/s", f.ID, f.Title, sizeName(size), name, rep+1, r.IOPS, r.MBps)
					}
					runs = append(runs, r)
				}
			}
		}
	}
	// Leave no dirty data of the last write case behind.
	syscall.Sync()
	return runs
}

// coldCache writes back dirty pages (so that one case's write-back does not land in
// the next) and then drops the whole page cache, as the paper started each run cold.
func coldCache() error {
	syscall.Sync()
	if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("3\n"), 0o644); err != nil {
		return fmt.Errorf("drop the page cache: %w (paper mode needs root and a writable /proc/sys)", err)
	}
	return nil
}
