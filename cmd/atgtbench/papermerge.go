package main

// Merging the raw results of several `atgtbench paper` runs into one report, so that
// a full run can be split into stretches that each fit between other people's
// benchmarks on a shared machine (-merge).

import (
	"encoding/csv"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/atgt/atgt/actors/lun"
)

var macroHeader = []string{"bench", "files", "target", "value", "unit", "hit_rate", "seconds", "error"}

func (m macroResult) rawRow() []string {
	return []string{m.Bench, strconv.Itoa(m.Files), m.Target, fmtFloat(m.Value, 2), m.Unit, fmtFloat(m.HitRate, 4),
		fmtFloat(m.Seconds, 2), m.Err}
}

// mergeRuns reads the paper-runs.csv and macro-runs.csv of each directory and
// writes one report from all of them into c.out; c's sizes, policies and repeats
// become what the runs hold.
func mergeRuns(c *paperConfig, dirs []string) error {
	var runs []paperRun
	var macro []macroResult
	for _, d := range dirs {
		rows, err := readCSV(filepath.Join(d, "paper-runs.csv"))
		if err != nil && !os.IsNotExist(err) {
			return err
		}
		for _, r := range rows {
			if len(r) != 9 {
				return fmt.Errorf("%s/paper-runs.csv: a row of %d fields", d, len(r))
			}
			i := slices.IndexFunc(figures, func(f figure) bool { return f.ID == r[0] })
			size, _ := strconv.Atoi(r[2])
			rep, _ := strconv.Atoi(r[4])
			if i < 0 || size <= 0 || rep <= 0 {
				return fmt.Errorf("%s/paper-runs.csv: bad row %v", d, r)
			}
			runs = append(runs, paperRun{Fig: figures[i], Size: size << 10, Target: r[3], Rep: rep - 1,
				IOPS: parseFloat(r[5]), MBps: parseFloat(r[6]), CPU: parseFloat(r[7]), Err: r[8]})
		}
		rows, err = readCSV(filepath.Join(d, "macro-runs.csv"))
		if err != nil && !os.IsNotExist(err) {
			return err
		}
		for _, r := range rows {
			if len(r) != len(macroHeader) {
				return fmt.Errorf("%s/macro-runs.csv: a row of %d fields", d, len(r))
			}
			files, _ := strconv.Atoi(r[1])
			macro = append(macro, macroResult{Bench: r[0], Files: files, Target: r[2], Value: parseFloat(r[3]), Unit: r[4],
				HitRate: parseFloat(r[5]), Seconds: parseFloat(r[6]), Err: r[7]})
		}
	}
	c.sizes, c.policies, c.tgt, c.repeats = nil, nil, false, 0
	var figs []figure
	for _, r := range runs {
		if !slices.Contains(c.sizes, r.Size) {
			c.sizes = append(c.sizes, r.Size)
		}
		if r.Target == "tgt" {
			c.tgt = true
		} else if !slices.Contains(c.policies, r.Target) {
			c.policies = append(c.policies, r.Target)
		}
		if !slices.ContainsFunc(figs, func(f figure) bool { return f.ID == r.Fig.ID }) {
			figs = append(figs, r.Fig)
		}
		c.repeats = max(c.repeats, r.Rep+1)
	}
	slices.Sort(c.sizes)
	slices.SortFunc(c.policies, func(a, b string) int { return slices.Index(lun.Policies, a) - slices.Index(lun.Policies, b) })
	slices.SortFunc(figs, func(a, b figure) int {
		return slices.IndexFunc(figures, func(f figure) bool { return f.ID == a.ID }) -
			slices.IndexFunc(figures, func(f figure) bool { return f.ID == b.ID })
	})
	if err := os.MkdirAll(c.out, 0o755); err != nil {
		return err
	}
	return writePaperOutputs(c, runs, figs, macro, machineInfo(), time.Duration(0))
}

func readCSV(path string) ([][]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	return rows[1:], nil
}

func parseFloat(s string) float64 {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return math.NaN()
	}
	return v
}
