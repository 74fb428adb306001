package main

import (
	"encoding/csv"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/atgt/atgt/actors/lun"
)

// paperCell is the runs of one target at one IO size of one figure, reduced.
type paperCell struct {
	Median, Low, High float64 // MB/s
	IOPS              float64 // median
	CPU               float64 // median target CPU s/GB
	Runs              int
}

// reduceRuns groups the successful runs by figure, target and size.
func reduceRuns(runs []paperRun) map[string]map[string]map[int]paperCell {
	type key struct {
		fig, target string
		size        int
	}
	mbps, iops, cpu := map[key][]float64{}, map[key][]float64{}, map[key][]float64{}
	for _, r := range runs {
		if r.Err != "" {
			continue
		}
		k := key{r.Fig.ID, r.Target, r.Size}
		mbps[k] = append(mbps[k], r.MBps)
		iops[k] = append(iops[k], r.IOPS)
		if !math.IsNaN(r.CPU) {
			cpu[k] = append(cpu[k], r.CPU)
		}
	}
	out := map[string]map[string]map[int]paperCell{}
	for k, v := range mbps {
		if out[k.fig] == nil {
			out[k.fig] = map[string]map[int]paperCell{}
		}
		if out[k.fig][k.target] == nil {
			out[k.fig][k.target] = map[int]paperCell{}
		}
		out[k.fig][k.target][k.size] = paperCell{Median: median(v), Low: slices.Min(v), High: slices.Max(v),
			IOPS: median(iops[k]), CPU: median(cpu[k]), Runs: len(v)}
	}
	return out
}

// writePaperOutputs writes paper.md, paper.csv (medians), paper-runs.csv (every run)
// and one chart per figure into c.out.
func writePaperOutputs(c *paperConfig, runs []paperRun, figs []figure, macro []macroResult, machine string, took time.Duration) error {
	cells := reduceRuns(runs)
	var md strings.Builder
	fmt.Fprintf(&md, "# The paper's benchmarks on this machine, %s\n\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&md, "Machine: %s.\n\n", machine)
	if len(c.merge) > 0 {
		fmt.Fprintf(&md, "Command: `go run ./cmd/atgtbench paper %s`, a report from the raw results of earlier runs. ", strings.Join(os.Args[2:], " "))
	} else {
		fmt.Fprintf(&md, "Command: `go run ./cmd/atgtbench paper %s` (took %s). ", strings.Join(os.Args[2:], " "), took.Round(time.Second))
	}
	fmt.Fprintf(&md, "Micro-benchmarks: %d IOs per run, queue depth %d, %d runs per case and target in rotating order, "+
		"each from a cold page cache (sync, then drop_caches) on a %d-byte file on a real disk; the figure is the median "+
		"run in MB/s (1e6 bytes/s), the bracket the lowest and highest run, %% is of threaded's median. "+
		"single-sync runs only the write figures: it differs from single only in writes (as in the paper).\n\n",
		c.ios, c.qd, c.repeats, c.size)
	if c.workers > 0 {
		fmt.Fprintf(&md, "The threaded and direct LUNs ran %d IO workers.\n\n", c.workers)
	}
	if c.maxProcs > 0 {
		fmt.Fprintf(&md, "atgtd ran its Go code on %d CPUs (maxProcs).\n\n", c.maxProcs)
	}
	rows := [][]string{{"figure", "title", "size_kib", "target", "design", "runs", "median_iops", "median_mb_s", "min_mb_s", "max_mb_s", "pct_of_threaded", "cpu_s_per_gb"}}
	for _, f := range figs {
		names := targetsFor(c, f)
		fmt.Fprintf(&md, "## %s: %s\n\n![%s](%s.png)\n\n", strings.Replace(f.ID, "fig", "Figure ", 1), f.Title, f.Title, f.ID)
		md.WriteString("| IO size |")
		for _, n := range names {
			fmt.Fprintf(&md, " %s (%s) |", n, paperName(n))
		}
		md.WriteString("\n|---|" + strings.Repeat("---:|", len(names)) + "\n")
		var xs []string
		ss := make([]series, len(names))
		for k, n := range names {
			style := slices.Index(lun.Policies, n)
			if n == "tgt" {
				style = len(lun.Policies)
			}
			ss[k] = series{Name: seriesLabel(n), Dashed: n == "tgt", Style: style}
		}
		for _, size := range c.sizes {
			xs = append(xs, sizeName(size))
			fmt.Fprintf(&md, "| %s |", sizeName(size))
			base, hasBase := cells[f.ID][lun0][size]
			for k, n := range names {
				cell, ok := cells[f.ID][n][size]
				if !ok {
					md.WriteString(" n/a |")
					ss[k].Y, ss[k].Low, ss[k].High = append(ss[k].Y, math.NaN()), append(ss[k].Low, math.NaN()), append(ss[k].High, math.NaN())
					continue
				}
				pct := math.NaN()
				if hasBase && base.Median > 0 {
					pct = 100 * cell.Median / base.Median
				}
				fmt.Fprintf(&md, " %s [%s-%s] %s |", fmtMB(cell.Median), fmtMB(cell.Low), fmtMB(cell.High), fmtPct(pct))
				ss[k].Y, ss[k].Low, ss[k].High = append(ss[k].Y, cell.Median), append(ss[k].Low, cell.Low), append(ss[k].High, cell.High)
				rows = append(rows, []string{f.ID, f.Title, strconv.Itoa(size >> 10), n, paperName(n), strconv.Itoa(cell.Runs),
					fmtFloat(cell.IOPS, 0), fmtFloat(cell.Median, 2), fmtFloat(cell.Low, 2), fmtFloat(cell.High, 2),
					fmtFloat(pct, 1), fmtFloat(cell.CPU, 3)})
			}
			md.WriteString("\n")
		}
		md.WriteString("\n")
		title := fmt.Sprintf("%s (the paper's %s): %d IOs from a cold cache, QD %d",
			f.Title, strings.Replace(f.ID, "fig", "Figure ", 1), c.ios, c.qd)
		if err := writeFigure(filepath.Join(c.out, f.ID+".png"), title, "IO size", "throughput, MB/s", xs, ss); err != nil {
			return err
		}
	}
	if len(macro) > 0 {
		md.WriteString(macroMarkdown(c, macro))
		for _, m := range macro {
			rows = append(rows, m.csvRow())
		}
	}
	for _, r := range runs {
		if r.Err != "" {
			fmt.Fprintf(&md, "- failed: %s %s on %s, run %d: %s\n", r.Fig.ID, sizeName(r.Size), r.Target, r.Rep+1, r.Err)
		}
	}
	if err := os.WriteFile(filepath.Join(c.out, "paper.md"), []byte(md.String()), 0o644); err != nil {
		return err
	}
	if err := writeCSVFile(filepath.Join(c.out, "paper.csv"), rows); err != nil {
		return err
	}
	raw := [][]string{{"figure", "title", "size_kib", "target", "run", "iops", "mb_s", "cpu_s_per_gb", "error"}}
	for _, r := range runs {
		raw = append(raw, []string{r.Fig.ID, r.Fig.Title, strconv.Itoa(r.Size >> 10), r.Target, strconv.Itoa(r.Rep + 1),
			fmtFloat(r.IOPS, 0), fmtFloat(r.MBps, 2), fmtFloat(r.CPU, 3), r.Err})
	}
	if err := writeCSVFile(filepath.Join(c.out, "paper-runs.csv"), raw); err != nil {
		return err
	}
	if len(macro) == 0 {
		return nil
	}
	mraw := [][]string{macroHeader}
	for _, m := range macro {
		mraw = append(mraw, m.rawRow())
	}
	return writeCSVFile(filepath.Join(c.out, "macro-runs.csv"), mraw)
}

// lun0 is the policy the others are compared with: the paper's design and atgt's default.
const lun0 = "threaded"

func writeCSVFile(path string, rows [][]string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	w.WriteAll(rows) //nolint:errcheck // checked by Error
	if err := w.Error(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// fmtMB prints MB/s with precision that suits its size; fmtPct a percentage.
func fmtMB(v float64) string {
	switch {
	case math.IsNaN(v):
		return "n/a"
	case v < 10:
		return strconv.FormatFloat(v, 'f', 2, 64)
	case v < 100:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}

func fmtPct(v float64) string {
	if math.IsNaN(v) {
		return ""
	}
	return fmt.Sprintf("(%.0f%%)", v)
}

// seriesLabel is a policy's legend entry: the policy and the paper's design.
func seriesLabel(t string) string {
	if t == "tgt" {
		return "tgt 1.0 (today's peer)"
	}
	return fmt.Sprintf("atgt %s (%s)", t, paperName(t))
}
