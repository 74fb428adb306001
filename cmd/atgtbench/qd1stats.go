package main

// Latency statistics and the tables of `atgtbench qd1`.

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// latStats summarises latencies in microseconds.
type latStats struct {
	N                      int
	P50, P99, P999, Mean   float64
	RoundP50Lo, RoundP50Hi float64 // the lowest and highest per-round p50
}

// quantile is the nearest-rank q-quantile of sorted xs (NaN for none).
func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// micros turns durations into sorted microseconds.
func micros(ds []time.Duration) []float64 {
	out := make([]float64, len(ds))
	for i, d := range ds {
		out[i] = float64(d) / 1e3
	}
	slices.Sort(out)
	return out
}

// latencyStats pools the rounds' latencies; the per-round p50s give the spread.
func latencyStats(rounds [][]time.Duration) latStats {
	var all []time.Duration
	s := latStats{RoundP50Lo: math.NaN(), RoundP50Hi: math.NaN()}
	for _, r := range rounds {
		if len(r) == 0 {
			continue
		}
		all = append(all, r...)
		p := quantile(micros(r), 0.5)
		if math.IsNaN(s.RoundP50Lo) || p < s.RoundP50Lo {
			s.RoundP50Lo = p
		}
		if math.IsNaN(s.RoundP50Hi) || p > s.RoundP50Hi {
			s.RoundP50Hi = p
		}
	}
	us := micros(all)
	s.N = len(us)
	s.P50, s.P99, s.P999 = quantile(us, 0.5), quantile(us, 0.99), quantile(us, 0.999)
	s.Mean = math.NaN()
	if len(us) > 0 {
		var sum float64
		for _, v := range us {
			sum += v
		}
		s.Mean = sum / float64(len(us))
	}
	return s
}

// us prints microseconds with one decimal, "n/a" for NaN.
func us(v float64) string { return fmtFloat(v, 1) }

// ratio prints a/b with two decimals.
func ratio(a, b float64) string {
	if b <= 0 {
		return "n/a"
	}
	return fmtFloat(a/b, 2)
}

// span prints a per-round range.
func span(lo, hi float64) string {
	if math.IsNaN(lo) {
		return "n/a"
	}
	return us(lo) + "–" + us(hi)
}

// mdTable renders a Markdown table; the first align columns are left-aligned, the
// rest right-aligned.
func mdTable(header []string, rows [][]string, left int) string {
	var b strings.Builder
	b.WriteString("| " + strings.Join(header, " | ") + " |\n|")
	for i := range header {
		if i < left {
			b.WriteString("---|")
		} else {
			b.WriteString("---:|")
		}
	}
	b.WriteString("\n")
	for _, r := range rows {
		c := slices.Clone(r)
		for i := range c {
			c[i] = strings.ReplaceAll(c[i], "|", `\|`)
		}
		b.WriteString("| " + strings.Join(c, " | ") + " |\n")
	}
	return b.String()
}

// qd1Section is one table of the report.
type qd1Section struct {
	Title  string
	Intro  string
	Header []string
	Rows   [][]string
	Left   int // left-aligned columns
	Notes  []string
}

func (s qd1Section) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "## %s\n\n", s.Title)
	if s.Intro != "" {
		b.WriteString(s.Intro + "\n\n")
	}
	b.WriteString(mdTable(s.Header, s.Rows, s.Left))
	for _, n := range s.Notes {
		b.WriteString("\n" + n + "\n")
	}
	b.WriteString("\n")
	return b.String()
}

// pairStats are one case's figures on both targets.
type pairStats struct {
	Case      string
	Atgt, Tgt latStats
}

// goSection is the Go-initiator table: percentiles side by side, with ratios.
func goSection(rows []pairStats, rounds int) qd1Section {
	s := qd1Section{Title: "QD1 latency, Go initiator (µs per IO)", Left: 1,
		Intro: fmt.Sprintf("Each IO's round trip timed by the client (send to status received), one command in flight; "+
			"%d rounds alternating atgt and tgt, samples of all rounds pooled (the write + SYNC CACHE row times the pair). "+
			"ratio = atgt / tgt, below 1 is better for atgt; p50 spread = lowest–highest per-round p50.", rounds),
		Header: []string{"case", "IOs", "atgt p50", "tgt p50", "p50 ratio", "atgt p99", "tgt p99", "p99 ratio",
			"atgt p99.9", "tgt p99.9", "p99.9 ratio", "atgt mean", "tgt mean", "mean ratio", "atgt p50 spread", "tgt p50 spread"}}
	for _, r := range rows {
		a, t := r.Atgt, r.Tgt
		s.Rows = append(s.Rows, []string{r.Case, fmt.Sprintf("%d+%d", a.N, t.N),
			us(a.P50), us(t.P50), ratio(a.P50, t.P50),
			us(a.P99), us(t.P99), ratio(a.P99, t.P99),
			us(a.P999), us(t.P999), ratio(a.P999, t.P999),
			us(a.Mean), us(t.Mean), ratio(a.Mean, t.Mean),
			span(a.RoundP50Lo, a.RoundP50Hi), span(t.RoundP50Lo, t.RoundP50Hi)})
	}
	return s
}

// clientRow is one real client's mean µs/IO per round on both targets.
type clientRow struct {
	Case      string
	How       string
	Atgt, Tgt []float64
}

// clientSection is the real clients' table: the median over rounds of µs per IO.
func clientSection(rows []clientRow) qd1Section {
	s := qd1Section{Title: "QD1 latency, real clients (mean µs per IO)", Left: 2,
		Intro: "Mean latency derived from the client's own figure: iscsi-perf's average IOPS (1e6 / IOPS), " +
			"qemu-img bench's run time / count. Median over rounds; range = lowest–highest round.",
		Header: []string{"case", "how", "atgt", "tgt", "ratio", "atgt range", "tgt range"}}
	for _, r := range rows {
		a, t := median(r.Atgt), median(r.Tgt)
		s.Rows = append(s.Rows, []string{r.Case, r.How, us(a), us(t), ratio(a, t), rangeOf(r.Atgt), rangeOf(r.Tgt)})
	}
	return s
}

func rangeOf(xs []float64) string {
	if len(xs) == 0 {
		return "n/a"
	}
	return span(slices.Min(xs), slices.Max(xs))
}

// floorRow is one reference latency with no target.
type floorRow struct {
	Case  string
	Stats latStats
}

// floorSection lists reference latencies with their percentiles.
func floorSection(title, intro string, rows []floorRow) qd1Section {
	s := qd1Section{Title: title, Intro: intro, Left: 1,
		Header: []string{"case", "samples", "p50", "p99", "p99.9", "mean"}}
	for _, r := range rows {
		st := r.Stats
		s.Rows = append(s.Rows, []string{r.Case, fmt.Sprint(st.N), us(st.P50), us(st.P99), us(st.P999), us(st.Mean)})
	}
	return s
}
