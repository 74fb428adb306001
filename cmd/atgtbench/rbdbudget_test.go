package main

import (
	"math"
	"strings"
	"testing"
)

func TestParseMachineTicks(t *testing.T) {
	// user nice system idle iowait irq softirq steal guest guest_nice
	stat := "cpu  100 10 50 800 40 5 5 0 30 0\ncpu0 50 5 25 400 20 2 3 0 15 0\ncpu1 50 5 25 400 20 3 2 0 15 0\nintr 1 2\n"
	busy, total, cpus, err := parseMachineTicks(stat)
	if err != nil {
		t.Fatal(err)
	}
	// guest is already counted in user, so it is left out of the total.
	if total != 1010 || busy != 170 || cpus != 2 {
		t.Errorf("busy %v total %v cpus %d, want 170 1010 2", busy, total, cpus)
	}
	if _, _, _, err := parseMachineTicks("intr 1 2\n"); err == nil {
		t.Error("a /proc/stat without its cpu line was accepted")
	}
}

func TestGBPerValue(t *testing.T) {
	for _, c := range []struct {
		name, unit string
		want       float64
	}{
		{"go rand read 4K", "IOPS", 4096 / 1e9},
		{"go seq read 128K", "MB/s", 1e-3},
	} {
		if got := gbPerValue(c.name, c.unit); math.Abs(got-c.want) > 1e-15 {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// TestRBDBudget checks the bounds on figures worked by hand: the cluster costs 10
// s/GB, librbd 5, the Go initiator 5 and tgtd 7.5. A target costing nothing more
// than librbd pays 10+5+5 = 20 s/GB against librbd's 15, so it reaches at most
// 75% of librbd; tgt-rbd pays 10+7.5+5 = 22.5 (its own librbd is in tgtd's 7.5),
// so the best ratio to it is 22.5/20 = 1.125.
func TestRBDBudget(t *testing.T) {
	nan := math.NaN()
	at := func(v, tgt, cl, cluster, cores float64, rep int) sample {
		return sample{Value: v, CPUPerGB: tgt, ClientCPUPerGB: cl, ClusterCPUPerGB: cluster, CoresBusy: cores, Rep: rep}
	}
	rows := []row{
		{Case: "go rand read 4K", Unit: "IOPS",
			Atgt: []sample{at(9000, 9, 5, 10, 2, 0), at(9100, 9, 5, 10, 2, 1)},
			Tgt:  []sample{at(8000, 7.5, 5, 10, 2, 0), at(8200, 7.5, 5, 10, 2, 1)}},
		{Case: librbdPrefix + "rand read 4K", Unit: "IOPS", Ref: true,
			Atgt: []sample{at(13000, nan, 5, 10, 2, 0), at(13400, nan, 5, 10, 2, 1)}},
		{Case: "go seq read 128K", Unit: "MB/s"}, // no reference row: no budget
	}
	bs := rbdBudget(rows)
	if len(bs) != 1 {
		t.Fatalf("%d budget rows, want 1 (the case with a librbd reference)", len(bs))
	}
	b := bs[0]
	if math.Abs(b.BoundLib-0.75) > 1e-9 || math.Abs(b.BoundT-1.125) > 1e-9 {
		t.Errorf("bounds %v of librbd, %v of tgt-rbd; want 0.75 and 1.125", b.BoundLib, b.BoundT)
	}
	if b.Atgt.value != 9050 || b.Lib.value != 13200 {
		t.Errorf("medians %v and %v, want 9050 and 13200", b.Atgt.value, b.Lib.value)
	}
	// 9050 IOPS of 4 KiB are 0.0371 GB/s; at 24 s/GB the parts used 0.89 cores.
	if got := b.Atgt.partsCores(gbPerValue(b.Case, b.Unit)); math.Abs(got-9050*4096/1e9*24) > 1e-9 {
		t.Errorf("atgt's parts used %v cores", got)
	}
	table := budgetTable(bs)
	for _, want := range []string{"| go rand read 4K | 75% | 1.12 | 69% | 1.12 | 2.00 |", "| go rand read 4K | librbd (rbd bench) | 13200 | - |"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	if budgetTable(nil) != "" {
		t.Error("an empty budget printed a table")
	}
}
