package trace

import (
	"slices"
	"sort"
	"time"
)

// Begin and End are a timeline's first and last event times (0 when empty).
func (tl *Timeline) Begin() int64 {
	if len(tl.Events) == 0 {
		return 0
	}
	return tl.Events[0].TNs
}

// End is the time of the timeline's last event.
func (tl *Timeline) End() int64 {
	if len(tl.Events) == 0 {
		return 0
	}
	return tl.Events[len(tl.Events)-1].TNs
}

// Duration is from the first event to the last.
func (tl *Timeline) Duration() time.Duration { return time.Duration(tl.End() - tl.Begin()) }

// collect returns the finished timelines f selects that keep returns true for,
// oldest end first.
func (t *Tracer) collect(f Filter, keep func(*Record) bool) []*Timeline {
	var out []*Timeline
	for _, c := range t.conns() {
		c.each(func(r *Record) {
			if f.Match(r.ID) && (keep == nil || keep(r)) {
				out = append(out, r.Timeline())
			}
		})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].End() < out[j].End() })
	return out
}

// Recent returns the last n finished tasks f selects, oldest first.
func (t *Tracer) Recent(n int, f Filter) []*Timeline {
	out := t.collect(f, nil)
	if n > 0 && len(out) > n {
		out = out[len(out)-n:]
	}
	return out
}

// Since returns the tasks f selects that were finished (put in their rings) after
// the time after and up to until (trace clock), oldest first, and until, where the
// next call resumes: what `atgtctl trace tail` polls for. Every task finished by
// until is readable, so resuming from it skips none (a task's last hop may be
// stamped before another's, yet reach its ring after it).
func (t *Tracer) Since(after int64, f Filter) ([]*Timeline, int64) {
	until := max(t.published(), after)
	var out []*Timeline
	var fins []int64
	for _, c := range t.conns() {
		c.each(func(r *Record) {
			if fin := r.finished.Load(); fin > after && fin <= until && f.Match(r.ID) {
				out = append(out, r.Timeline())
				fins = append(fins, fin)
			}
		})
	}
	idx := make([]int, len(out))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(i, j int) bool { return fins[idx[i]] < fins[idx[j]] })
	sorted := make([]*Timeline, len(out))
	for i, k := range idx {
		sorted[i] = out[k]
	}
	return sorted, until
}

// Task returns the finished tasks with this ITT (of the session tsih, when not
// negative), oldest first.
func (t *Tracer) Task(itt uint32, tsih int) []*Timeline {
	return t.collect(Any, func(r *Record) bool {
		return r.ID.ITT == itt && (tsih < 0 || int(r.ID.TSIH) == tsih)
	})
}

// Slow returns up to n finished tasks f selects that took longer than over, the
// slowest first.
func (t *Tracer) Slow(over time.Duration, n int, f Filter) []*Timeline {
	out := t.collect(f, nil)
	out = slices.DeleteFunc(out, func(tl *Timeline) bool { return tl.Duration() <= over })
	sort.SliceStable(out, func(i, j int) bool { return out[i].Duration() > out[j].Duration() })
	if n > 0 && len(out) > n {
		out = out[:n]
	}
	return out
}

// HopStat is the latency into one hop (from the hop before it in the same task)
// over the finished tasks read.
type HopStat struct {
	Hop                Hop
	Count              int
	P50, P90, P99, Max time.Duration
}

// Stats are the per-hop latency percentiles over the finished tasks f selects, in
// path order, and how many tasks they cover.
func (t *Tracer) Stats(f Filter) ([]HopStat, int) {
	tls := t.collect(f, nil)
	by := map[Hop][]int64{}
	for _, tl := range tls {
		for i := 1; i < len(tl.Events); i++ {
			e := tl.Events[i]
			by[e.Hop] = append(by[e.Hop], e.TNs-tl.Events[i-1].TNs)
		}
	}
	var out []HopStat
	for _, h := range Hops() {
		d := by[h]
		if len(d) == 0 {
			continue
		}
		slices.Sort(d)
		q := func(p float64) time.Duration { return time.Duration(d[min(len(d)-1, int(p*float64(len(d))))]) }
		out = append(out, HopStat{Hop: h, Count: len(d), P50: q(0.5), P90: q(0.9), P99: q(0.99), Max: time.Duration(d[len(d)-1])})
	}
	return out, len(tls)
}

// Counters are the tracer's totals: tasks finished (in the rings readable now),
// and the sinks' delivered and dropped timelines.
func (t *Tracer) Counters() (finished, sunk, dropped uint64) {
	for _, c := range t.conns() {
		finished += c.next.Load()
	}
	return finished, t.sunk.Load(), t.dropped.Load()
}
