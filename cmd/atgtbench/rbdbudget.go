package main

// The CPU budget of `atgtbench -rbd`. On a small machine the Ceph cluster, the
// initiator and the target share the same cores, so when every run keeps the
// cores busy, throughput is the cores divided by the CPU each byte costs all of
// them together. Measuring each part's CPU per GB (the OSD and monitor, the target,
// the initiator, and librbd itself in `rbd bench`) bounds what any iSCSI target on
// librbd could reach here: even a target that cost nothing beyond librbd pays the
// OSD, librbd and the initiator, which `rbd bench` does not pay for the initiator.

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// clusterPIDs are the Ceph daemons of the -rbd cluster, whose CPU each run also
// measures; empty outside -rbd.
var clusterPIDs []int

// findClusterPIDs reads the pid files scripts/ceph-up.sh leaves in run/ beside the
// cluster's ceph.conf; a cluster started otherwise has none, and the budget is left
// out.
func findClusterPIDs(conf string) []int {
	files, _ := filepath.Glob(filepath.Join(filepath.Dir(conf), "run", "*.pid"))
	var pids []int
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 0 {
			if _, err := cpuSeconds(pid); err == nil {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// clusterCPU is the CPU seconds of the cluster's daemons so far, NaN when one
// cannot be read.
func clusterCPU() float64 {
	if len(clusterPIDs) == 0 {
		return math.NaN()
	}
	sum := 0.0
	for _, pid := range clusterPIDs {
		v, err := cpuSeconds(pid)
		if err != nil {
			return math.NaN()
		}
		sum += v
	}
	return sum
}

// machineTicks reads the first line of /proc/stat: the busy and total jiffies of
// all CPUs (idle and iowait are not busy), and the number of CPUs.
func machineTicks() (busy, total float64, cpus int, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, 0, err
	}
	return parseMachineTicks(string(b))
}

// parseMachineTicks is machineTicks on the contents of /proc/stat.
func parseMachineTicks(s string) (busy, total float64, cpus int, err error) {
	lines := strings.Split(s, "\n")
	f := strings.Fields(lines[0])
	if len(f) < 6 || f[0] != "cpu" {
		return 0, 0, 0, fmt.Errorf("/proc/stat: first line %q", lines[0])
	}
	idle := 0.0
	for i, x := range f[1:] {
		if i >= 8 { // guest and guest_nice are already in user and nice
			break
		}
		v, err := strconv.ParseFloat(x, 64)
		if err != nil {
			return 0, 0, 0, fmt.Errorf("/proc/stat: %q: %v", x, err)
		}
		total += v
		if i == 3 || i == 4 { // idle, iowait
			idle += v
		}
	}
	for _, l := range lines[1:] {
		if strings.HasPrefix(l, "cpu") {
			cpus++
		}
	}
	return total - idle, total, cpus, nil
}

// machineMeter measures, between two marks, the cluster's CPU and how many of the
// machine's cores were busy on average.
type machineMeter struct {
	cluster0, busy0, total0 float64
	cluster1, busy1, total1 float64
	cpus                    int
	ok                      bool
}

// mark starts the measurement.
func (m *machineMeter) mark() {
	m.cluster0 = clusterCPU()
	var err error
	m.busy0, m.total0, m.cpus, err = machineTicks()
	m.ok = err == nil
}

// stop ends it.
func (m *machineMeter) stop() {
	m.cluster1 = clusterCPU()
	var err error
	m.busy1, m.total1, _, err = machineTicks()
	m.ok = m.ok && err == nil
}

// fill sets s's cluster CPU per GB and busy cores between mark and stop.
func (m *machineMeter) fill(s *sample, bytes float64) {
	s.ClusterCPUPerGB, s.CoresBusy = math.NaN(), math.NaN()
	if !math.IsNaN(m.cluster0) && !math.IsNaN(m.cluster1) {
		s.ClusterCPUPerGB = perGB(m.cluster1-m.cluster0, bytes)
	}
	if m.ok && m.total1 > m.total0 {
		s.CoresBusy = (m.busy1 - m.busy0) / (m.total1 - m.total0) * float64(m.cpus)
	}
}

// budgetSide is one side's medians over its runs of a case.
type budgetSide struct {
	value, target, client, cluster, cores float64
}

// partsCores is how many cores the measured parts kept busy: GB per second times
// their CPU seconds per GB. Near the cores busy, the parts are all that ran.
func (b budgetSide) partsCores(gbPerValue float64) float64 {
	sum := b.client + b.cluster
	if !math.IsNaN(b.target) {
		sum += b.target
	}
	return b.value * gbPerValue * sum
}

// gbPerValue converts a case's figure to GB per second: MB/s, or IOPS times the
// IO size its name ends with ("4K").
func gbPerValue(name, unit string) float64 {
	if unit == "MB/s" {
		return 1e-3
	}
	f := strings.Fields(name)
	k, err := strconv.Atoi(strings.TrimSuffix(f[len(f)-1], "K"))
	if err != nil {
		return math.NaN()
	}
	return float64(k) * 1024 / 1e9
}

func sideMedians(ss []sample) budgetSide {
	var b budgetSide
	col := func(get func(sample) float64) float64 {
		var v []float64
		for _, s := range ss {
			if x := get(s); !math.IsNaN(x) && x > 0 {
				v = append(v, x)
			}
		}
		if len(v) == 0 {
			return math.NaN()
		}
		return median(v)
	}
	b.value = col(func(s sample) float64 { return s.Value })
	b.target = col(func(s sample) float64 { return s.CPUPerGB })
	b.client = col(func(s sample) float64 { return s.ClientCPUPerGB })
	b.cluster = col(func(s sample) float64 { return s.ClusterCPUPerGB })
	b.cores = col(func(s sample) float64 { return s.CoresBusy })
	return b
}

// budgetRow is the CPU budget of one case: the three sides' medians and the bounds
// they give.
type budgetRow struct {
	Case, Unit       string
	Atgt, Tgt, Lib   budgetSide
	BoundLib, BoundT float64 // best possible share of librbd, ratio to tgt-rbd
}

// rbdBudget pairs each Go case with its librbd reference row and computes the
// bounds. A target that costs nothing beyond librbd still pays, per GB, the
// cluster's CPU and librbd's (as in rbd bench) and the initiator's (as in the
// runs against atgt): at full cores its throughput is at most cores/(that sum).
// BoundLib is that over librbd's own cores/(cluster+librbd); BoundT is it over
// tgt-rbd's cores/(cluster+tgtd+initiator). Both assume the runs keep the cores
// equally busy, which the cores column shows.
func rbdBudget(rows []row) []budgetRow {
	lib := map[string][]sample{}
	for _, r := range rows {
		if r.Ref && strings.HasPrefix(r.Case, librbdPrefix) {
			lib[strings.TrimPrefix(r.Case, librbdPrefix)] = r.Atgt
		}
	}
	var out []budgetRow
	for _, r := range rows {
		l, ok := lib[strings.TrimPrefix(r.Case, "go ")]
		if r.Ref || !ok {
			continue
		}
		b := budgetRow{Case: r.Case, Unit: r.Unit, Atgt: sideMedians(r.Atgt), Tgt: sideMedians(r.Tgt), Lib: sideMedians(l)}
		zero := b.Lib.cluster + b.Lib.client + b.Atgt.client
		b.BoundLib = (b.Lib.cluster + b.Lib.client) / zero
		b.BoundT = (b.Tgt.cluster + b.Tgt.target + b.Tgt.client) / zero
		out = append(out, b)
	}
	return out
}

// budgetTable renders the budget as markdown, with a line saying what it bounds.
func budgetTable(bs []budgetRow) string {
	if len(bs) == 0 {
		return ""
	}
	var sb strings.Builder
	sb.WriteString("CPU budget (median CPU seconds per GB, cores busy on average during the runs; cluster = the Ceph daemons; " +
		"librbd's CPU is rbd bench's process):\n\n")
	sb.WriteString("| case | side | value | target | initiator | cluster | cores busy | cores of these parts |\n" +
		"|---|---|---:|---:|---:|---:|---:|---:|\n")
	f := func(v float64) string { return fmtFloat(v, 2) }
	for _, b := range bs {
		for _, s := range []struct {
			name string
			v    budgetSide
		}{{"atgt", b.Atgt}, {"tgt-rbd", b.Tgt}, {"librbd (rbd bench)", b.Lib}} {
			tgtCol, initCol := f(s.v.target), f(s.v.client)
			if s.name == "librbd (rbd bench)" {
				tgtCol, initCol = "-", f(s.v.client)+" (librbd)"
			}
			fmt.Fprintf(&sb, "| %s | %s | %.0f | %s | %s | %s | %s | %s |\n", b.Case, s.name, s.v.value, tgtCol, initCol,
				f(s.v.cluster), f(s.v.cores), f(s.v.partsCores(gbPerValue(b.Case, b.Unit))))
		}
	}
	sb.WriteString("\nBounds for a target that costs no CPU beyond librbd's own (same cluster, same initiator, same busy cores):\n\n")
	sb.WriteString("| case | best share of librbd direct | best ratio to tgt-rbd | atgt's share | atgt's ratio | fewest cores busy |\n" +
		"|---|---:|---:|---:|---:|---:|\n")
	for _, b := range bs {
		fmt.Fprintf(&sb, "| %s | %.0f%% | %.2f | %.0f%% | %.2f | %s |\n", b.Case, 100*b.BoundLib, b.BoundT,
			100*b.Atgt.value/b.Lib.value, b.Atgt.value/b.Tgt.value, f(math.Min(b.Atgt.cores, math.Min(b.Tgt.cores, b.Lib.cores))))
	}
	sb.WriteString("\nA bound holds where every side kept the machine's cores busy; where one did not, its runs " +
		"waited on something else (the OSD's disk, latency at this queue depth), and the bound is no limit.\n")
	return sb.String()
}

// writeBudget prints the CPU budget of rows and writes it to budget.md in dir.
func writeBudget(dir string, rows []row) {
	t := budgetTable(rbdBudget(rows))
	if t == "" {
		return
	}
	fmt.Print(t)
	err := os.MkdirAll(dir, 0o755)
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, "budget.md"), []byte(t), 0o644)
	}
	if err != nil {
		logf("budget.md: %v", err)
	}
}
