package inprocess

import (
	"cmp"
	"fmt"
	"slices"
	"testing"

	"github.com/atgt/atgt/messages/iscsi"
)

// The linearizability test's checker: what a READ of a block may return, given the
// commands' intervals (see linearize_test.go).

// linOp is one command as the checker sees it.
type linOp struct {
	kind      string
	sess, seq int // session and submission order in it (= CmdSN order)
	attr      uint8
	s, e      int64 // logical clock: before the send, after the outcome
	lba       uint64
	n         uint64
	gen       uint64 // value written (0: zeros)
	write     bool
	acked     bool // GOOD
	dropped   bool // did not write (MISCOMPARE)
	ended     bool
	cmpGen    []uint64 // COMPARE AND WRITE: the compared generation of each block
	readGen   []uint64 // READ: the generation read from each block (valid if readOK)
	readOK    bool
	torn      map[uint64][]uint64 // READ: the generations of a torn block's parts
	outcome   string
}

func (o *linOp) ordered() bool { return o.attr == iscsi.TaskAttrOrdered }
func (o *linOp) hoq() bool     { return o.attr == iscsi.TaskAttrHeadOfQueue }

// before reports that a is known to have taken effect before b began.
func linBefore(a, b *linOp) bool {
	if a.e < b.s && a.ended && !a.dropped {
		// Also a failed, aborted or timed-out write: once it is answered it
		// lands before any write sent later (the LUN fences a call it gave up on).
		return true
	}
	if !a.acked {
		return false
	}
	return a.sess == b.sess && a.seq < b.seq && (b.ordered() || (a.ordered() && !b.hoq()))
}

// linCheck checks every READ block and every GOOD COMPARE AND WRITE against the
// writes on the same blocks and returns the violations (at most max).
func linCheck(ops []*linOp, max int) []string {
	writes := make(map[uint64][]*linOp) // by LBA, sorted by s below
	byGen := make(map[uint64]*linOp)
	for _, o := range ops {
		if o.write && !o.dropped {
			for i := range o.n {
				writes[o.lba+i] = append(writes[o.lba+i], o)
			}
			if o.gen != linZeroGen {
				byGen[o.gen] = o
			}
		}
	}
	for _, ws := range writes {
		slices.SortFunc(ws, func(a, b *linOp) int { return cmp.Compare(a.s, b.s) })
	}
	// between returns the writes on lba that began in (from, to).
	between := func(lba uint64, from, to int64) []*linOp {
		ws := writes[lba]
		i, _ := slices.BinarySearchFunc(ws, from+1, func(w *linOp, t int64) int { return cmp.Compare(w.s, t) })
		j, _ := slices.BinarySearchFunc(ws, to, func(w *linOp, t int64) int { return cmp.Compare(w.s, t) })
		if j < i {
			return nil
		}
		return ws[i:j]
	}
	// The whole (not torn) blocks each READ saw, by LBA, sorted by s.
	type seen struct {
		r *linOp
		g uint64
	}
	reads := make(map[uint64][]seen)
	for _, o := range ops {
		if !o.readOK {
			continue
		}
		for i, g := range o.readGen {
			if o.torn[uint64(i)] == nil {
				reads[o.lba+uint64(i)] = append(reads[o.lba+uint64(i)], seen{o, g})
			}
		}
	}
	for _, rs := range reads {
		slices.SortFunc(rs, func(a, b seen) int { return cmp.Compare(a.r.s, b.r.s) })
	}
	// reappears reports a READ r1 of lba that began after w had ended, ended before
	// r began, and saw another value, so that w's value coming back for r means w
	// landed after r1. For an acknowledged w that is never right. A failed, aborted
	// or timed-out w may still land after its answer (the LUN abandons a call it
	// gives up on, README "Failing disks"), but never over data acknowledged after
	// that answer: r1's value counts only if its write was acknowledged after w ended.
	reappears := func(r *linOp, lba uint64, w *linOp) *linOp {
		if w.gen == linZeroGen || !w.ended {
			return nil
		}
		rs := reads[lba]
		i, _ := slices.BinarySearchFunc(rs, w.e+1, func(x seen, t int64) int { return cmp.Compare(x.r.s, t) })
		for ; i < len(rs) && rs[i].r.s < r.s; i++ {
			x := rs[i]
			if x.r == r || x.r.e >= r.s || x.g == w.gen {
				continue
			}
			if w.acked {
				return x.r
			}
			if w1 := byGen[x.g]; w1 != nil && w1.acked && w1.e > w.e {
				return x.r
			}
		}
		return nil
	}
	var bad []string
	// sources of generation g at lba, newest first.
	sources := func(lba, g uint64) []*linOp {
		if g == linZeroGen {
			var z []*linOp
			ws := writes[lba]
			for i := len(ws) - 1; i >= 0; i-- {
				if ws[i].gen == linZeroGen {
					z = append(z, ws[i])
				}
			}
			return z
		}
		if w := byGen[g]; w != nil && lba >= w.lba && lba < w.lba+w.n {
			return []*linOp{w}
		}
		return nil
	}
	// allowed reports whether r (a read, or a COMPARE AND WRITE's compare) may see
	// source w at lba. A write w2 that supersedes w for r began after w and before r.
	allowed := func(r *linOp, lba uint64, w *linOp) bool {
		if w == r || r.e < w.s || linBefore(r, w) {
			return false
		}
		// After a GOOD COMPARE AND WRITE source, the writes known to follow the
		// value it compared follow it too.
		var c *linOp
		from := w.s
		if w.kind == "COMPARE AND WRITE" && w.acked {
			if cg := w.cmpGen[lba-w.lba]; cg != linZeroGen {
				if c = byGen[cg]; c != nil {
					from = min(from, c.s)
				}
			}
		}
		if r.kind != "COMPARE AND WRITE" && reappears(r, lba, w) != nil {
			return false
		}
		for _, w2 := range between(lba, from, r.s) {
			if w2 == w || w2 == r || !w2.acked || !linBefore(w2, r) {
				continue
			}
			if linBefore(w, w2) || (c != nil && c != w2 && linBefore(c, w2)) {
				return false
			}
		}
		return true
	}
	describe := func(lba uint64, r *linOp) string {
		s := ""
		for _, w := range writes[lba] {
			if w.e < r.s-400 || w.s > r.e {
				continue
			}
			s += fmt.Sprintf("\n      %s gen %d sess %d seq %d attr %d [%d,%d] %s", w.kind, w.gen, w.sess, w.seq, w.attr, w.s, w.e, w.outcome)
		}
		return s
	}
	for _, r := range ops {
		var gens []uint64
		switch {
		case r.readOK:
			gens = r.readGen
		case r.kind == "COMPARE AND WRITE" && r.acked:
			gens = r.cmpGen
		default:
			continue
		}
		var each []struct{ i, g uint64 }
		for i, g := range gens {
			each = append(each, struct{ i, g uint64 }{uint64(i), g})
			for _, tg := range r.torn[uint64(i)] {
				each = append(each, struct{ i, g uint64 }{uint64(i), tg})
			}
		}
		for _, x := range each {
			i, g := x.i, x.g
			lba := r.lba + i
			ok := false
			srcs := sources(lba, g)
			for _, w := range srcs {
				if allowed(r, lba, w) {
					ok = true
					break
				}
			}
			if !ok && len(bad) < max {
				src := ""
				for _, w := range srcs {
					src += fmt.Sprintf("\n      source: %s gen %d sess %d seq %d attr %d [%d,%d] %s", w.kind, w.gen, w.sess, w.seq, w.attr, w.s, w.e, w.outcome)
					if r1 := reappears(r, lba, w); r1 != nil {
						g1 := uint64(0)
						for _, x := range reads[lba] {
							if x.r == r1 {
								g1 = x.g
							}
						}
						src += fmt.Sprintf("\n      but %s sess %d seq %d [%d,%d], after the source ended, saw gen %d", r1.kind, r1.sess, r1.seq, r1.s, r1.e, g1)
					}
				}
				bad = append(bad, fmt.Sprintf("%s sess %d seq %d attr %d [%d,%d] LBA %d saw gen %d (%d sources)%s; writes near:%s",
					r.kind, r.sess, r.seq, r.attr, r.s, r.e, lba, g, len(srcs), src, describe(lba, r)))
			}
		}
	}
	return bad
}

// TestLinearizeChecker checks the checker's judgement on hand-made histories, so
// that the load test's silence means something.
func TestLinearizeChecker(t *testing.T) {
	w := func(gen uint64, s, e int64) *linOp {
		return &linOp{kind: "WRITE", lba: 0, n: 1, gen: gen, write: true, acked: true, ended: true, s: s, e: e, sess: 0, seq: int(s)}
	}
	r := func(gen uint64, s, e int64) *linOp {
		return &linOp{kind: "READ", lba: 0, n: 1, acked: true, ended: true, readOK: true, readGen: []uint64{gen}, s: s, e: e, sess: 1, seq: int(s)}
	}
	cases := []struct {
		name string
		ops  []*linOp
		bad  bool
	}{
		{"latest", []*linOp{w(1, 0, 1), w(2, 2, 3), r(2, 4, 5)}, false},
		{"stale", []*linOp{w(1, 0, 1), w(2, 2, 3), r(1, 4, 5)}, true},
		{"concurrent old", []*linOp{w(1, 0, 1), w(2, 2, 6), r(1, 4, 5)}, false},
		{"concurrent new", []*linOp{w(1, 0, 1), w(2, 2, 6), r(2, 4, 5)}, false},
		{"future", []*linOp{w(1, 0, 1), r(2, 4, 5), w(2, 6, 7)}, true},
		{"unknown", []*linOp{w(1, 0, 1), r(3, 4, 5)}, true},
	}
	// An ORDERED read of session 0 must see the session's earlier write, even one
	// answered after the read began.
	ow := w(2, 2, 9)
	or := r(1, 4, 5)
	or.sess, or.seq, or.attr = 0, 3, iscsi.TaskAttrOrdered
	ow.seq = 2
	cases = append(cases, struct {
		name string
		ops  []*linOp
		bad  bool
	}{"ordered read", []*linOp{w(1, 0, 1), ow, or}, true})
	// COMPARE AND WRITE c compared gen 1 and wrote 3; write 2, which began after
	// write 1 ended, was acknowledged: it must follow c, so a later read of 3 is a
	// lost write.
	c := &linOp{kind: "COMPARE AND WRITE", lba: 0, n: 1, gen: 3, write: true, acked: true, ended: true, s: 3, e: 8,
		cmpGen: []uint64{1}, sess: 1, seq: 3}
	cases = append(cases, struct {
		name string
		ops  []*linOp
		bad  bool
	}{"caw atomicity", []*linOp{w(1, 0, 1), w(2, 2, 6), c, r(3, 10, 11)}, true})
	// Write 2 is aborted; write 3, sent before the abort's answer but acknowledged
	// after it, is read back; then write 2's value comes back: the late call
	// overwrote data acknowledged after it.
	ab := w(2, 2, 5)
	ab.acked = false
	w3 := w(3, 3, 7)
	cases = append(cases, struct {
		name string
		ops  []*linOp
		bad  bool
	}{"late landing over acknowledged", []*linOp{w(1, 0, 1), ab, w3, r(3, 8, 9), r(2, 10, 11)}, true})
	// The same with write 3 acknowledged before the abort's answer: the late call
	// may land (the README allows it).
	w3b := w(3, 3, 4)
	ab2 := *ab
	cases = append(cases, struct {
		name string
		ops  []*linOp
		bad  bool
	}{"late landing allowed", []*linOp{w(1, 0, 1), &ab2, w3b, r(3, 8, 9), r(2, 10, 11)}, false})
	c2 := *c
	cases = append(cases, struct {
		name string
		ops  []*linOp
		bad  bool
	}{"caw then write", []*linOp{w(1, 0, 1), w(2, 2, 6), &c2, r(2, 10, 11)}, false})
	for _, tc := range cases {
		got := linCheck(tc.ops, 5)
		if (len(got) > 0) != tc.bad {
			t.Errorf("%s: violations %v, want bad=%v", tc.name, got, tc.bad)
		}
	}
}
