package main

import (
	"context"
	"encoding/csv"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
)

// TestPaperSmoke runs paper mode briefly (two figures, one IO size, 100 IOs each,
// threaded and tgt) to prove that it runs end to end and writes its outputs; the
// full run is a benchmark, not a test. It needs root (it drops the page cache) and
// tgt, which scripts/install-test-deps.sh installs.
func TestPaperSmoke(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("paper mode drops the page cache: run the tests as root")
	}
	if _, err := exec.LookPath("tgtd"); err != nil {
		t.Fatal("tgtd not found: run scripts/install-test-deps.sh (Debian package tgt)")
	}
	dir := os.TempDir()
	if onRealDisk(dir) != nil {
		dir = "/var/tmp"
	}
	c := &paperConfig{ios: 100, qd: 8, repeats: 1, sizes: []int{4096}, policies: []string{"threaded"}, tgt: true,
		dir: dir, size: 64 << 20, out: t.TempDir(), cases: regexp.MustCompile("fig7|fig8")}
	if err := paper(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stopAll)
	for _, f := range []string{"paper.md", "paper.csv", "paper-runs.csv", "fig7.png", "fig8.png"} {
		if fi, err := os.Stat(filepath.Join(c.out, f)); err != nil || fi.Size() == 0 {
			t.Errorf("%s: missing or empty (%v)", f, err)
		}
	}
	f, err := os.Open(filepath.Join(c.out, "paper-runs.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1+4 { // header, 2 figures x (threaded, tgt)
		t.Fatalf("paper-runs.csv has %d rows, want 5:\n%v", len(rows), rows)
	}
	for _, r := range rows[1:] {
		if r[8] != "" || r[5] == "" || r[5] == "0" {
			t.Errorf("run %v failed or measured nothing", r)
		}
	}
}

// TestOnRealDisk refuses tmpfs, where a cold page cache means nothing.
func TestOnRealDisk(t *testing.T) {
	if _, err := os.Stat("/dev/shm"); err == nil && onRealDisk("/dev/shm") == nil {
		t.Error("/dev/shm (tmpfs) accepted as a real disk")
	}
}

// TestFigureChart draws a figure with a missing point and a series at a few percent
// of the others (the log axis must hold both).
func TestFigureChart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fig.png")
	nan := math.NaN()
	ss := []series{
		{Name: seriesLabel("threaded"), Y: []float64{100, 200}, Low: []float64{90, 180}, High: []float64{110, 220}},
		{Name: seriesLabel("single-sync"), Y: []float64{1.5, nan}, Low: []float64{1.2, nan}, High: []float64{1.9, nan}},
		{Name: seriesLabel("tgt"), Y: []float64{80, 150}, Low: []float64{80, 150}, High: []float64{80, 150}, Dashed: true},
	}
	if err := writeFigure(path, "Sequential write", "IO size", "MB/s", []string{"2K", "4K"}, ss); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() < 1000 {
		t.Fatalf("chart missing or tiny: %v", err)
	}
}
