package main

import (
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
)

// sample is one run of one case on one target.
type sample struct {
	Value    float64 // IOPS or MB/s (see the case's unit); higher is better
	CPUPerGB float64 // target CPU seconds per GB (1e9 bytes) moved; NaN if unknown
	// ClientCPUPerGB is the client's CPU seconds per GB in the same run: on a small
	// machine client and target share the cores, so a costly client caps both.
	ClientCPUPerGB float64
	// Rep is the repeat the run belongs to: the runs of one repeat on the two
	// targets ran back to back.
	Rep int
	// Busy counts iscsi-perf's commands answered BUSY (not in Value); Short the
	// bytes a Go-initiator run asked for and the target did not move (not in
	// Value). Both are 0 from a target that serves every command whole.
	Busy  int
	Short int64
	// ClusterCPUPerGB is the Ceph daemons' CPU seconds per GB (with -rbd), and
	// CoresBusy how many of the machine's cores were busy on average during the
	// run; NaN or 0 when not measured. See rbdbudget.go.
	ClusterCPUPerGB, CoresBusy float64
}

// row is one line of the results table: a case and its samples on both targets.
type row struct {
	Case string
	Unit string // "IOPS" or "MB/s"
	// Ref marks a reference figure that belongs to no target (iperf3): its value is
	// in Atgt and Tgt is empty.
	Ref       bool
	Atgt, Tgt []sample
	Note      string // why a side has no figure ("n/a: iperf3 not installed", an error)
}

// pick returns the median (or best) value of the samples and the median target and
// client CPU per GB, NaN when there are none.
func pick(ss []sample, stat string) (value, cpu, client float64) {
	if len(ss) == 0 {
		return math.NaN(), math.NaN(), math.NaN()
	}
	vals := make([]float64, 0, len(ss))
	var cpus, clients []float64
	for _, s := range ss {
		vals = append(vals, s.Value)
		if !math.IsNaN(s.CPUPerGB) {
			cpus = append(cpus, s.CPUPerGB)
		}
		if !math.IsNaN(s.ClientCPUPerGB) {
			clients = append(clients, s.ClientCPUPerGB)
		}
	}
	if stat == "best" {
		value = slices.Max(vals)
	} else {
		value = median(vals)
	}
	return value, median(cpus), median(clients)
}

// pairedRatio is the median, over the repeats both targets completed, of atgt's
// value over tgt's in the same repeat. The two runs of a repeat are back to back, so
// when the machine's speed drifts during a benchmark (a shared VM's neighbours), this
// compares like with like where the ratio of the two medians may pair a fast period
// with a slow one. NaN without a complete pair.
func pairedRatio(atgt, tgt []sample) float64 {
	var rs []float64
	for _, a := range atgt {
		for _, t := range tgt {
			if t.Rep == a.Rep && t.Value > 0 {
				rs = append(rs, a.Value/t.Value)
			}
		}
	}
	return median(rs)
}

// median of xs (mean of the middle two for an even count); NaN for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// summary is a row reduced to its figures.
type summary struct {
	Case, Unit       string
	Atgt, Tgt, Ratio float64
	PairedRatio      float64 // see pairedRatio
	AtgtCPU, TgtCPU  float64
	// Client CPU per GB in the runs against each target.
	AtgtClientCPU, TgtClientCPU float64
	Ref                         bool
	Note                        string
}

func summarize(rows []row, stat string) []summary {
	out := make([]summary, 0, len(rows))
	for _, r := range rows {
		s := summary{Case: r.Case, Unit: r.Unit, Ref: r.Ref, Note: r.Note}
		s.Atgt, s.AtgtCPU, s.AtgtClientCPU = pick(r.Atgt, stat)
		s.Tgt, s.TgtCPU, s.TgtClientCPU = pick(r.Tgt, stat)
		s.Ratio, s.PairedRatio = math.NaN(), math.NaN()
		if !r.Ref && s.Tgt > 0 {
			s.Ratio = s.Atgt / s.Tgt
			s.PairedRatio = pairedRatio(r.Atgt, r.Tgt)
		}
		out = append(out, s)
	}
	return out
}

// fmtValue prints IOPS as integers and MB/s with one decimal; NaN as "n/a".
func fmtValue(v float64, unit string) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "n/a"
	}
	if unit == "IOPS" {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f", v)
}

func fmtFloat(v float64, prec int) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "n/a"
	}
	return fmt.Sprintf("%.*f", prec, v)
}

var tableHeader = []string{"case", "unit", "atgt", "tgt", "ratio atgt/tgt", "paired ratio", "atgt CPU s/GB", "tgt CPU s/GB",
	"client CPU s/GB (atgt)", "client CPU s/GB (tgt)"}

// cells turns a summary into the table's cells.
func (s summary) cells() []string {
	if s.Ref {
		v := fmtValue(s.Atgt, s.Unit)
		if s.Note != "" && math.IsNaN(s.Atgt) {
			v = s.Note
		}
		return []string{s.Case, s.Unit, v, "-", "-", "-", "-", "-", "-", "-"}
	}
	return []string{s.Case, s.Unit, fmtValue(s.Atgt, s.Unit), fmtValue(s.Tgt, s.Unit),
		fmtFloat(s.Ratio, 2), fmtFloat(s.PairedRatio, 2), fmtFloat(s.AtgtCPU, 2), fmtFloat(s.TgtCPU, 2),
		fmtFloat(s.AtgtClientCPU, 2), fmtFloat(s.TgtClientCPU, 2)}
}

// writeCSV writes the header and one record per summary.
func writeCSV(w io.Writer, ss []summary) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(tableHeader); err != nil {
		return err
	}
	for _, s := range ss {
		if err := cw.Write(s.cells()); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// markdownTable renders the summaries as a GitHub Markdown table; numbers are
// right-aligned.
func markdownTable(ss []summary) string {
	var b strings.Builder
	b.WriteString("| " + strings.Join(tableHeader, " | ") + " |\n")
	// One delimiter cell per header cell, or GitHub does not render a table.
	b.WriteString("|---|---|" + strings.Repeat("---:|", len(tableHeader)-2) + "\n")
	for _, s := range ss {
		c := s.cells()
		for i := range c {
			c[i] = strings.ReplaceAll(c[i], "|", `\|`)
		}
		b.WriteString("| " + strings.Join(c, " | ") + " |\n")
	}
	return b.String()
}

// textTable renders the summaries as aligned columns for the terminal.
func textTable(ss []summary) string {
	rows := [][]string{tableHeader}
	for _, s := range ss {
		rows = append(rows, s.cells())
	}
	width := make([]int, len(tableHeader))
	for _, r := range rows {
		for i, c := range r {
			width[i] = max(width[i], len(c))
		}
	}
	var b strings.Builder
	for n, r := range rows {
		for i, c := range r {
			if i > 0 {
				b.WriteString("  ")
			}
			if i < 2 {
				fmt.Fprintf(&b, "%-*s", width[i], c)
			} else {
				fmt.Fprintf(&b, "%*s", width[i], c)
			}
		}
		b.WriteString("\n")
		if n == 0 {
			total := len(width)*2 - 2
			for _, w := range width {
				total += w
			}
			b.WriteString(strings.Repeat("-", total) + "\n")
		}
	}
	return b.String()
}
