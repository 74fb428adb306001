package main

// The paper's macro-benchmarks (Tables 4 and 5), each on an ext2 file system with
// 4 KiB blocks that this machine's kernel builds on the LUN (attach.go):
//   - Postmark (Table 4): many small short-lived files, nearly all writes. The
//     "initiator" (Postmark and the file system's page cache) runs in a memory
//     cgroup, so that its writes reach the target during the run as they did on the
//     paper's 1 GB initiator, not only at unmount.
//   - the network server benchmark (Table 5): random reads of whole 2 MiB files with
//     several reads in flight, with the target's page cache limited by a memory
//     cgroup on the target process, for a set that fits in it and one that does not.
//     Reads use O_DIRECT, so the initiator's page cache never answers one, as the
//     paper's asynchronous IO did; the target's hit rate comes from /proc/PID/io:
//     1 - (bytes the target read from the disk) / (bytes it served).

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/atgt/atgt/actors/lun"
)

// postmarkParams are Postmark's settings that the paper gives.
type postmarkParams struct{ Files, Transactions int }

// macroResult is one macro-benchmark run on one target.
type macroResult struct {
	Bench   string // "postmark" or "netserver"
	Files   int    // netserver: files in the set
	Target  string
	Value   float64 // transactions/s or MB/s
	Unit    string
	HitRate float64 // netserver: the target's page-cache hit rate, NaN if unknown
	Seconds float64 // wall time of the measured part
	Err     string
}

func (m macroResult) csvRow() []string {
	id := "table4"
	if m.Bench == "netserver" {
		id = "table5"
	}
	return []string{id, m.Bench, strconv.Itoa(m.Files), m.Target, paperName(m.Target), "1", "", fmtFloat(m.Value, 2),
		"", "", fmtFloat(100*m.HitRate, 1), ""}
}

const (
	netFileSize = 2 << 20
	// initiatorMemory is the initiator's memory limit in Postmark: small beside
	// Postmark's data, so that the file system writes back during the run.
	initiatorMemory = 64 << 20
	netReaders      = 8 // whole-file reads in flight
)

// macroTargets are the targets of the macro-benchmarks: the policies and tgt.
func macroTargets(c *paperConfig, reads bool) []string {
	f := figure{Write: !reads}
	return targetsFor(c, f)
}

// startMacroTarget starts target name (a policy or "tgt") serving file.
func startMacroTarget(ctx context.Context, c *paperConfig, bin, dir, name, file string, size int64) (*target, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var t *target
	var err error
	if name == "tgt" {
		t, err = startTgt(ctx, dir, file, logf)
	} else {
		t, err = startAtgt(ctx, dir, file, size, lunFields(c, name), cfgFields(c), bin, logf)
	}
	if err != nil {
		return nil, err
	}
	t.Name = name
	return t, nil
}

// macroBenchmarks runs the macro-benchmarks c.macro asks for.
func macroBenchmarks(ctx context.Context, c *paperConfig, workDir string) []macroResult {
	bin, err := buildAtgtd(ctx, workDir, c.atgtBin, logf)
	if err != nil {
		return []macroResult{{Bench: c.macro, Target: "atgt", Err: err.Error()}}
	}
	var out []macroResult
	if c.macro == "all" || c.macro == "postmark" {
		for _, name := range macroTargets(c, false) {
			r := runPostmark(ctx, c, bin, filepath.Join(workDir, "postmark-"+name), name)
			out = append(out, r)
			if ctx.Err() != nil {
				return out
			}
		}
	}
	if c.macro == "all" || c.macro == "netserver" {
		out = append(out, runNetServer(ctx, c, bin, filepath.Join(workDir, "netserver"))...)
	}
	return out
}

var postmarkTPS = regexp.MustCompile(`(\d+) seconds of transactions \((\d+) per second\)`)

// runPostmark runs Postmark on a fresh ext2 on a fresh LUN served by target name.
func runPostmark(ctx context.Context, c *paperConfig, bin, dir, name string) macroResult {
	r := macroResult{Bench: "postmark", Target: name, Unit: "transactions/s", HitRate: math.NaN()}
	fail := func(err error) macroResult {
		r.Err = err.Error()
		logf("postmark on %s: %v", name, err)
		return r
	}
	if _, err := exec.LookPath("postmark"); err != nil {
		return fail(fmt.Errorf("postmark not found: install it with scripts/install-bench-deps.sh"))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fail(err)
	}
	file, size := filepath.Join(dir, "lun.img"), int64(2<<30)
	if err := sparseFile(file, size); err != nil {
		return fail(err)
	}
	defer os.Remove(file)
	t, err := startMacroTarget(ctx, c, bin, dir, name, file, size)
	if err != nil {
		return fail(err)
	}
	defer t.stop()
	a, err := attach(ctx, t.URL, dir, true, false)
	if err != nil {
		return fail(err)
	}
	defer a.detach() //nolint:errcheck // detached below; this is for early returns
	cg, err := newMemCgroup("atgtbench-initiator", initiatorMemory)
	if err != nil {
		return fail(err)
	}
	defer cg.remove()
	script := fmt.Sprintf("set location %s\nset number %d\nset transactions %d\nset size 512 16384\nrun\nquit\n",
		a.mnt, c.postmark.Files, c.postmark.Transactions)
	// The shell joins the cgroup before it becomes Postmark, so all of Postmark's
	// page cache is charged to it.
	cmd := exec.CommandContext(ctx, "sh", "-c", `echo $$ > "$1/cgroup.procs" && exec postmark`, "sh", cg.dir)
	cmd.Stdin = strings.NewReader(script)
	start := time.Now()
	outb, err := cmd.CombinedOutput()
	if err != nil {
		return fail(fmt.Errorf("postmark: %v: %s", err, lastLines(string(outb), 5)))
	}
	// Unmounting writes back what is left; it belongs to the run.
	if err := a.detach(); err != nil {
		return fail(err)
	}
	r.Seconds = time.Since(start).Seconds()
	m := postmarkTPS.FindStringSubmatch(string(outb))
	if m == nil {
		return fail(fmt.Errorf("no transaction rate in Postmark's output: %s", lastLines(string(outb), 5)))
	}
	r.Value, _ = strconv.ParseFloat(m[2], 64)
	logf("postmark on %-11s: %.0f transactions/s (Postmark's figure), whole run with unmount %.1f s", name, r.Value, r.Seconds)
	return r
}

// sparseFile makes an empty (all holes) file of size bytes.
func sparseFile(path string, size int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// runNetServer fills one LUN with the largest set of 2 MiB files, then for each
// target and each set size reads random whole files from a warm start with the
// target's memory limited, and measures the throughput and the target's hit rate.
func runNetServer(ctx context.Context, c *paperConfig, bin, dir string) []macroResult {
	most := 0
	for _, n := range c.netFiles {
		most = max(most, n)
	}
	file := filepath.Join(dir, "lun.img")
	size := int64(most)*netFileSize*11/10 + 64<<20
	size = (size + 1<<20 - 1) &^ (1<<20 - 1)
	var out []macroResult
	fail := func(name string, files int, err error) {
		logf("netserver on %s: %v", name, err)
		out = append(out, macroResult{Bench: "netserver", Files: files, Target: name, Err: err.Error(), HitRate: math.NaN()})
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fail("setup", 0, err)
		return out
	}
	if err := sparseFile(file, size); err != nil {
		fail("setup", 0, err)
		return out
	}
	defer os.Remove(file)
	if err := fillNetServer(ctx, c, bin, filepath.Join(dir, "setup"), file, size, most); err != nil {
		fail("setup", most, err)
		return out
	}
	for _, name := range macroTargets(c, true) {
		for _, n := range c.netFiles {
			if ctx.Err() != nil {
				return out
			}
			r, err := netServerRun(ctx, c, bin, filepath.Join(dir, name), name, file, size, n)
			if err != nil {
				fail(name, n, err)
				continue
			}
			out = append(out, r)
		}
	}
	return out
}

// fillNetServer builds the file system and writes files f0..f(n-1) through target
// threaded.
func fillNetServer(ctx context.Context, c *paperConfig, bin, dir, file string, size int64, n int) error {
	t, err := startMacroTarget(ctx, c, bin, dir, lun.PolicyThreaded, file, size)
	if err != nil {
		return err
	}
	defer t.stop()
	a, err := attach(ctx, t.URL, dir, true, false)
	if err != nil {
		return err
	}
	defer a.detach() //nolint:errcheck // detached below
	logf("netserver: writing %d files of 2 MiB", n)
	buf := make([]byte, netFileSize)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range n {
		for j := 0; j < len(buf); j += 8 {
			v := rng.Uint64()
			for k := range 8 {
				buf[j+k] = byte(v >> (8 * k))
			}
		}
		if err := os.WriteFile(filepath.Join(a.mnt, fmt.Sprintf("f%05d", i)), buf, 0o644); err != nil {
			return err
		}
	}
	return a.detach()
}

// netServerRun measures one target on a set of n files.
func netServerRun(ctx context.Context, c *paperConfig, bin, dir, name, file string, size int64, n int) (macroResult, error) {
	r := macroResult{Bench: "netserver", Files: n, Target: name, Unit: "MB/s"}
	t, err := startMacroTarget(ctx, c, bin, dir, name, file, size)
	if err != nil {
		return r, err
	}
	defer t.stop()
	cg, err := newMemCgroup("atgtbench-target", c.netTargetMem)
	if err != nil {
		return r, err
	}
	// A cgroup can go only once its processes have: stop the target first.
	defer func() { t.stop(); cg.remove() }()
	if err := cg.add(t.PID); err != nil {
		return r, fmt.Errorf("move target into its cgroup: %w", err)
	}
	if err := coldCache(); err != nil {
		return r, err
	}
	a, err := attach(ctx, t.URL, dir, false, true)
	if err != nil {
		return r, err
	}
	defer a.detach() //nolint:errcheck
	// Warm both sides as the paper did: every file once.
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	if err := readFiles(a.mnt, order); err != nil {
		return r, err
	}
	rng := rand.New(rand.NewPCG(uint64(n), 3))
	picks := make([]int, c.netReads)
	for i := range picks {
		picks[i] = rng.IntN(n)
	}
	io0, err := procIO(t.PID)
	if err != nil {
		return r, err
	}
	start := time.Now()
	if err := readFiles(a.mnt, picks); err != nil {
		return r, err
	}
	r.Seconds = time.Since(start).Seconds()
	io1, err := procIO(t.PID)
	if err != nil {
		return r, err
	}
	served := float64(len(picks)) * netFileSize
	r.Value = served / r.Seconds / 1e6
	r.HitRate = math.Max(0, 1-float64(io1["read_bytes"]-io0["read_bytes"])/served)
	logf("netserver %4d files on %-11s: %.1f MB/s, target hit rate %.1f%% (served %.0f MB, read from disk %.0f MB, pread %.0f MB)",
		n, name, r.Value, 100*r.HitRate, served/1e6, float64(io1["read_bytes"]-io0["read_bytes"])/1e6, float64(io1["rchar"]-io0["rchar"])/1e6)
	return r, nil
}

// readFiles reads the files of the given numbers whole with O_DIRECT, netReaders at
// a time.
func readFiles(dir string, which []int) error {
	var wg sync.WaitGroup
	next := make(chan int)
	errs := make(chan error, netReaders)
	for range netReaders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf, err := syscall.Mmap(-1, 0, netFileSize, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
			if err != nil {
				errs <- err
				return
			}
			defer syscall.Munmap(buf) //nolint:errcheck
			for i := range next {
				if err := readDirect(filepath.Join(dir, fmt.Sprintf("f%05d", i)), buf); err != nil {
					errs <- err
					for range next {
					}
					return
				}
			}
		}()
	}
	for _, i := range which {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	return <-errs
}

// readDirect reads a whole file into buf (page-aligned) with O_DIRECT.
func readDirect(path string, buf []byte) error {
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_DIRECT, 0)
	if err != nil {
		return err
	}
	defer syscall.Close(fd)
	for off := 0; off < len(buf); {
		n, err := syscall.Pread(fd, buf[off:], int64(off))
		if err != nil {
			return fmt.Errorf("read %s: %w", path, err)
		}
		if n == 0 {
			break
		}
		off += n
	}
	return nil
}

// procIO reads /proc/PID/io: read_bytes is what the process (all its threads) made
// the block layer read, rchar what its read calls returned.
func procIO(pid int) (map[string]int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]int64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err == nil {
			out[k] = n
		}
	}
	return out, sc.Err()
}

// macroMarkdown is the macro-benchmarks' section of paper.md; c gives the settings
// they ran with.
func macroMarkdown(c *paperConfig, ms []macroResult) string {
	var b strings.Builder
	var pm, ns []macroResult
	for _, m := range ms {
		if m.Bench == "postmark" {
			pm = append(pm, m)
		} else {
			ns = append(ns, m)
		}
	}
	if len(pm) > 0 {
		fmt.Fprintf(&b, "## Table 4: Postmark\n\n%d files of 512 B to 16 KiB, %d transactions, on an ext2 with 4 KiB "+
			"blocks on a fresh 2 GiB LUN per target; Postmark and its file system's page cache ran in a memory cgroup of %d MiB. "+
			"Postmark reports whole seconds, so its rate is coarse; the last column is the whole run, unmount included.\n\n",
			c.postmark.Files, c.postmark.Transactions, initiatorMemory>>20)
		b.WriteString("| target | design | transactions/s | whole run with unmount, s |\n|---|---|---:|---:|\n")
		for _, m := range pm {
			if m.Err != "" {
				fmt.Fprintf(&b, "| %s | %s | failed: %s | |\n", m.Target, paperName(m.Target), m.Err)
				continue
			}
			fmt.Fprintf(&b, "| %s | %s | %.0f | %.1f |\n", m.Target, paperName(m.Target), m.Value, m.Seconds)
		}
		b.WriteString("\n")
	}
	if len(ns) > 0 {
		fmt.Fprintf(&b, "## Table 5: network server (random whole-file reads of 2 MiB files)\n\n"+
			"%d reads of whole files chosen at random, %d at a time, with O_DIRECT, after one read of every file; the target "+
			"process ran in a memory cgroup of %d MiB; hit rate = 1 - (its /proc/PID/io read_bytes) / (bytes served).\n\n",
			c.netReads, netReaders, c.netTargetMem>>20)
		b.WriteString("| target | design | files | MB/s | target page-cache hit rate |\n|---|---|---:|---:|---:|\n")
		for _, m := range ns {
			if m.Err != "" {
				fmt.Fprintf(&b, "| %s | %s | %d | failed: %s | |\n", m.Target, paperName(m.Target), m.Files, m.Err)
				continue
			}
			fmt.Fprintf(&b, "| %s | %s | %d | %.1f | %.1f%% |\n", m.Target, paperName(m.Target), m.Files, m.Value, 100*m.HitRate)
		}
		b.WriteString("\n")
	}
	return b.String()
}
