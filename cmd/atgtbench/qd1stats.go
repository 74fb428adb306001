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

// pairStats are one case's figures on two targets, A and B.
type pairStats struct {
	Case string
	A, B latStats
}

// goSection is a Go-initiator table: A's and B's percentiles side by side, with
// the ratios A / B.
func goSection(title, a, b string, rows []pairStats, rounds, slices int) qd1Section {
	turns := ""
	if slices > 1 {
		turns = fmt.Sprintf(", each round's IOs in %d runs per target, the targets taking turns run by run", slices)
	}
	s := qd1Section{Title: title, Left: 1,
		Intro: fmt.Sprintf("Each IO's round trip timed by the client (send to status received), one command in flight; "+
			"%d round(s), the targets' order rotating%s, samples of all rounds pooled (the write + SYNC CACHE row times the pair). "+
			"ratio = %s / %s, below 1 is better for %s; p50 spread = lowest–highest per-round p50.", rounds, turns, a, b, a),
		Header: []string{"case", "IOs " + a + "+" + b, a + " p50", b + " p50", "p50 ratio", a + " p99", b + " p99", "p99 ratio",
			a + " p99.9", b + " p99.9", "p99.9 ratio", a + " mean", b + " mean", "mean ratio", a + " p50 spread", b + " p50 spread"}}
	for _, r := range rows {
		x, y := r.A, r.B
		s.Rows = append(s.Rows, []string{r.Case, fmt.Sprintf("%d+%d", x.N, y.N),
			us(x.P50), us(y.P50), ratio(x.P50, y.P50),
			us(x.P99), us(y.P99), ratio(x.P99, y.P99),
			us(x.P999), us(y.P999), ratio(x.P999, y.P999),
			us(x.Mean), us(y.Mean), ratio(x.Mean, y.Mean),
			span(x.RoundP50Lo, x.RoundP50Hi), span(y.RoundP50Lo, y.RoundP50Hi)})
	}
	return s
}

// clientRow is one real client's mean µs/IO per round on each target.
type clientRow struct {
	Case string
	How  string
	Vals map[string][]float64 // by target name, one per round
}

// clientSection is a real clients' table: the median over rounds of µs per IO on
// targets a and b.
func clientSection(title, a, b string, rows []clientRow) qd1Section {
	s := qd1Section{Title: title, Left: 2,
		Intro: "Mean latency derived from the client's own figure: iscsi-perf's average IOPS (1e6 / IOPS), " +
			"qemu-img bench's run time / count. Median over rounds; range = lowest–highest round; ratio = " + a + " / " + b + ".",
		Header: []string{"case", "how", a, b, "ratio", a + " range", b + " range"}}
	for _, r := range rows {
		x, y := median(r.Vals[a]), median(r.Vals[b])
		s.Rows = append(s.Rows, []string{r.Case, r.How, us(x), us(y), ratio(x, y), rangeOf(r.Vals[a]), rangeOf(r.Vals[b])})
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
		Header: []string{"case", "samples", "p50", "p99", "p99.9", "mean", "p50 spread"}}
	for _, r := range rows {
		st := r.Stats
		s.Rows = append(s.Rows, []string{r.Case, fmt.Sprint(st.N), us(st.P50), us(st.P99), us(st.P999), us(st.Mean),
			span(st.RoundP50Lo, st.RoundP50Hi)})
	}
	return s
}
