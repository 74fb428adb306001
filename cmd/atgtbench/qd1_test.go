package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/scsi"
)

// TestMain lets the test binary stand in for atgtbench as the ping-pong's echo
// process (qd1 mode starts its own executable as the echo).
func TestMain(m *testing.M) {
	if os.Getenv(echoEnv) != "" {
		os.Exit(echoMain())
	}
	os.Exit(m.Run())
}

// needTools installs the tests' Debian packages when a tool qd1 mode runs is missing.
func needTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err == nil {
			continue
		}
		cmd := exec.Command("sh", filepath.Join(moduleRoot(), "scripts", "install-test-deps.sh"))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s missing and scripts/install-test-deps.sh failed: %v\n%s", tool, err, out)
		}
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s still missing after scripts/install-test-deps.sh", tool)
		}
	}
}

// TestQD1Smoke runs qd1 mode end to end with a few IOs per case (the full run is a
// benchmark, not a test) and checks that every table has every row, with positive
// figures where a figure belongs.
func TestQD1Smoke(t *testing.T) {
	needTools(t, "tgtd", "tgtadm", "iscsi-perf", "qemu-img")
	dir := "/var/tmp"
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		dir = t.TempDir()
	}
	// The same build twice: atgt and, to cover -base, atgt-base.
	bin, err := buildAtgtd(context.Background(), t.TempDir(), "", t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	// Three runs per target and round: 20 sync IOs split 6+7+7.
	c := &qd1Config{rounds: 2, slices: 3, ios: 100, syncIOs: 20, pingIOs: 200, traceIOs: 50, perfTime: 2 * time.Second,
		qemuCount: 200, qemuSync: 20, dir: dir, size: 16 << 20, out: t.TempDir(), clients: true, floors: true,
		atgtBin: bin, baseBin: bin}
	t.Cleanup(stopAll)
	rep, sections, err := qd1(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"qd1.md", "qd1.csv", "qd1-runs.csv"} {
		if fi, err := os.Stat(filepath.Join(c.out, f)); err != nil || fi.Size() == 0 {
			t.Errorf("%s: missing or empty (%v)", f, err)
		}
	}
	if !strings.Contains(rep, "Machine: ") {
		t.Errorf("report has no machine line:\n%s", rep)
	}
	byTitle := map[string]qd1Section{}
	for _, s := range sections {
		byTitle[s.Title] = s
	}
	// Each table: its rows' first cells, and the columns that must hold positive numbers.
	want := []struct {
		prefix string
		rows   []string
		cols   []int
	}{
		{"QD1 latency, Go initiator: atgt vs tgt", caseNames(), []int{2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13}},
		{"QD1 latency, real clients: atgt vs tgt", clientNames, []int{2, 3, 4}},
		{"Issue 19's goals", []string{qd1Cases[0].Name, qd1Cases[1].Name, qd1Cases[3].Name,
			qd1Cases[0].Name, qd1Cases[1].Name, qd1Cases[2].Name, qd1Cases[3].Name}, []int{2}},
		{"QD1 latency, Go initiator: atgt vs atgt-base", caseNames(), []int{2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13}},
		{"QD1 latency, real clients: atgt vs atgt-base", clientNames, []int{2, 3, 4}},
		{"The floor", []string{pingShapes[0].Name, pingShapes[1].Name, pingShapes[2].Name, pingShapes[3].Name,
			pingShapes[4].Name, pingShapes[5].Name}, []int{1, 2, 3, 4, 5}},
		{"Flush cost", []string{syncFloors[0].Name, syncFloors[1].Name, syncFloors[2].Name,
			qd1Cases[2].Name + " via atgt", qd1Cases[2].Name + " via tgt", qd1Cases[2].Name + " via atgt-base",
			qd1Cases[3].Name + " via atgt", qd1Cases[3].Name + " via tgt", qd1Cases[3].Name + " via atgt-base"}, []int{1, 2, 3, 4, 5}},
	}
	for _, w := range want {
		s, ok := sectionWithPrefix(sections, w.prefix)
		if !ok {
			t.Errorf("no table %q in:\n%s", w.prefix, rep)
			continue
		}
		if len(s.Rows) != len(w.rows) {
			t.Errorf("%s: %d rows, want %d", s.Title, len(s.Rows), len(w.rows))
			continue
		}
		for i, r := range s.Rows {
			if r[0] != w.rows[i] {
				t.Errorf("%s: row %d is %q, want %q", s.Title, i, r[0], w.rows[i])
			}
			for _, col := range w.cols {
				if v, err := strconv.ParseFloat(r[col], 64); err != nil || !(v > 0) || math.IsInf(v, 0) {
					t.Errorf("%s, %s: %s = %q, want a positive number", s.Title, r[0], s.Header[col], r[col])
				}
			}
		}
	}
	// Every IO of every slice is counted: rounds × IOs per target.
	if s, ok := sectionWithPrefix(sections, "QD1 latency, Go initiator: atgt vs tgt"); ok {
		for _, r := range s.Rows {
			n := c.ios
			if strings.Contains(r[0], "FUA") || strings.Contains(r[0], "SYNC") {
				n = c.syncIOs
			}
			if want := fmt.Sprintf("%d+%d", c.rounds*n, c.rounds*n); r[1] != want {
				t.Errorf("%s: %s IOs, want %s", r[0], r[1], want)
			}
		}
	}
	// The per-hop tables: one per atgt and case, each with the path's hops and a
	// positive time inside atgt for each opcode the case sends.
	for _, cs := range qd1Cases {
		for _, name := range []string{"atgt", "atgt-base"} {
			checkTraceSection(t, byTitle, name, cs)
		}
	}
}

// checkTraceSection checks the per-hop table of case cs on target name.
func checkTraceSection(t *testing.T, byTitle map[string]qd1Section, name string, cs qd1Case) {
	t.Helper()
	s, ok := byTitle["Where the time goes in "+name+": "+cs.Name]
	if !ok {
		t.Errorf("no per-hop table for %s on %s", cs.Name, name)
		return
	}
	hops := map[string]bool{}
	inside := 0
	for _, r := range s.Rows {
		hops[r[1]] = true
		if strings.Contains(r[1], "inside "+name+")") {
			if v, err := strconv.ParseFloat(r[4], 64); err != nil || v <= 0 {
				t.Errorf("%s on %s: time inside %q", cs.Name, name, r[4])
			}
			inside++
		}
	}
	if inside != len(cs.Opcodes) {
		t.Errorf("%s on %s: %d inside rows, want %d:\n%s", cs.Name, name, inside, len(cs.Opcodes), s.markdown())
	}
	for _, h := range []string{"received → admitted", "backend.start → backend.end", "queuedout → written"} {
		if !hops[h] {
			t.Errorf("%s on %s: no %q row:\n%s", cs.Name, name, h, s.markdown())
		}
	}
}

var clientNames = []string{"4K rand read", "4K seq read", "4K seq write", "4K seq write + flush"}

func caseNames() []string {
	var out []string
	for _, c := range qd1Cases {
		out = append(out, c.Name)
	}
	return out
}

func sectionWithPrefix(ss []qd1Section, prefix string) (qd1Section, bool) {
	for _, s := range ss {
		if strings.HasPrefix(s.Title, prefix) {
			return s, true
		}
	}
	return qd1Section{}, false
}

// TestQD1SlicesFlag checks -slices' bounds.
func TestQD1SlicesFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		ok   bool
	}{
		{nil, true},
		{[]string{"-slices", "8"}, true},
		{[]string{"-slices", "0"}, false},
		{[]string{"-slices", "2001"}, false}, // more runs than -sync-ios' 2000 IOs
	} {
		c, err := parseQD1Flags(tc.args)
		if (err == nil) != tc.ok {
			t.Errorf("%v: err %v, want ok %v", tc.args, err, tc.ok)
		}
		if err == nil && tc.args == nil && c.slices != 1 {
			t.Errorf("default -slices %d, want 1", c.slices)
		}
	}
}

// TestLatencyStats checks the nearest-rank percentiles, the mean and the per-round
// spread on known samples.
func TestLatencyStats(t *testing.T) {
	var a, b []time.Duration
	for i := 1; i <= 1000; i++ {
		a = append(a, time.Duration(i)*time.Microsecond)
		b = append(b, time.Duration(i+1000)*time.Microsecond)
	}
	s := latencyStats([][]time.Duration{a, b, nil})
	if s.N != 2000 || s.P50 != 1000 || s.P99 != 1980 || s.P999 != 1998 || math.Abs(s.Mean-1000.5) > 1e-9 {
		t.Fatalf("stats %+v", s)
	}
	if s.RoundP50Lo != 500 || s.RoundP50Hi != 1500 {
		t.Fatalf("spread %v–%v, want 500–1500", s.RoundP50Lo, s.RoundP50Hi)
	}
	if e := latencyStats(nil); e.N != 0 || !math.IsNaN(e.P50) || !math.IsNaN(e.Mean) {
		t.Fatalf("empty stats %+v", e)
	}
}

// TestTraceBreakdown reduces two synthetic READ timelines (one with its hops stamped
// out of order) to gaps between consecutive hops in path order, with the actors
// crossed, the total inside the target and the client's remainder.
func TestTraceBreakdown(t *testing.T) {
	tl := func(base int64, gaps ...int64) *pb.TraceTimeline {
		names := []string{"received", "admitted", "ordered", "written"}
		actors := []string{"reader", "conn", "session", "writer"}
		out := &pb.TraceTimeline{Opcode: uint32(scsi.OpRead16)}
		at := base
		for i, n := range names {
			if i > 0 {
				at += gaps[i-1]
			}
			out.Hops = append(out.Hops, &pb.TraceHop{Hop: n, Actor: actors[i], TNs: at})
		}
		return out
	}
	a := tl(1000, 1000, 2000, 3000)
	b := tl(50000, 3000, 4000, 5000)
	b.Hops[0], b.Hops[3] = b.Hops[3], b.Hops[0] // the reader's stamp can land late
	tc := traceBreakdown(qd1Cases[0], "atgt", latStats{N: 2, P50: 20}, []*pb.TraceTimeline{a, b})
	s := traceSection(tc)
	want := [][]string{
		{"READ(16)", "received → admitted", "reader → conn", "2", "1.0"},
		{"READ(16)", "admitted → ordered", "conn → session", "2", "2.0"},
		{"READ(16)", "ordered → written", "session → writer", "2", "3.0"},
		{"READ(16)", "**first hop → last hop (inside atgt)**", "", "2", "6.0"},
		{"all", "client round trip (traced run)", "client", "2", "20.0"},
		{"all", "outside atgt: client, kernel TCP both ways, wake-ups (p50 difference)", "", "", "14.0"},
	}
	if len(s.Rows) != len(want) {
		t.Fatalf("%d rows, want %d:\n%s", len(s.Rows), len(want), s.markdown())
	}
	for i, w := range want {
		if got := s.Rows[i][:5]; strings.Join(got, "|") != strings.Join(w, "|") {
			t.Errorf("row %d = %q, want %q", i, got, w)
		}
	}
}

// TestGoalSection: a ratio at the bound meets the goal, above it does not.
func TestGoalSection(t *testing.T) {
	lat := func(us int) [][]time.Duration { return [][]time.Duration{{time.Duration(us) * time.Microsecond}} }
	d := &qd1Data{cases: qd1Cases[:2], goLat: map[string][][][]time.Duration{
		"atgt": {lat(70), lat(90)},
		"tgt":  {lat(100), lat(100)},
	}}
	s := goalSection(d)
	got := map[string]string{}
	for _, r := range s.Rows {
		got[r[0]+" "+r[1]] = r[2] + " " + r[3]
	}
	want := map[string]string{
		"4K rand read p50 ≤ 0.7x tgt's":  "0.70 yes",
		"4K rand write p50 ≤ 0.8x tgt's": "0.90 no",
		"4K rand read p99 ≤ 1.0x tgt's":  "0.70 yes",
		"4K rand write p99 ≤ 1.0x tgt's": "0.90 yes",
	}
	if len(got) != len(want) {
		t.Fatalf("rows %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %q, want %q", k, got[k], v)
		}
	}
}

// TestGoalFloor: each case's floor is the sum of its parts' p50s, and the goals
// table gives it over tgt's p50 for the p50 goals only.
func TestGoalFloor(t *testing.T) {
	lat := func(us int) [][]time.Duration { return [][]time.Duration{{time.Duration(us) * time.Microsecond}} }
	d := &qd1Data{cases: qd1Cases, goLat: map[string][][][]time.Duration{
		"atgt": {lat(40), lat(80), lat(280), lat(310)},
		"tgt":  {lat(80), lat(130), lat(270), lat(350)},
	}}
	for range pingShapes {
		d.pingLat = append(d.pingLat, lat(1000)) // shapes no floor uses
	}
	d.pingLat[pingRead], d.pingLat[pingWrite], d.pingLat[pingNoData] = lat(70), lat(75), lat(55)
	for range syncFloors {
		d.syncLat = append(d.syncLat, nil)
	}
	d.syncLat[syncPwrite], d.syncLat[syncFdatasync], d.syncLat[syncDsync] = lat(7), lat(170), lat(180)
	for op, want := range map[qd1Op]float64{opRead: 70, opWrite: 82, opWriteFUA: 255, opWriteSync: 300} {
		if got := goalFloor(d, op); got != want {
			t.Errorf("floor of op %v: %v µs, want %v", op, got, want)
		}
	}
	got := map[string]string{}
	for _, r := range goalSection(d).Rows {
		got[r[0]+" "+r[1]] = r[4]
	}
	for k, v := range map[string]string{
		"4K rand write + SYNC CACHE p50 ≤ 0.8x tgt's": "0.86", // 300 / 350: the goal (0.8) is below it
		"4K rand read p50 ≤ 0.7x tgt's":               "0.88",
		"4K rand write FUA p99 ≤ 1.0x tgt's":          "",
	} {
		if got[k] != v {
			t.Errorf("%s: floor %q, want %q (rows %v)", k, got[k], v, got)
		}
	}
	if f := goalFloor(&qd1Data{cases: qd1Cases}, opRead); f != 0 {
		t.Errorf("floor without the floors run: %v, want 0", f)
	}
}

// TestPinProcess pins every thread of this process to CPU 0 and back to every CPU.
func TestPinProcess(t *testing.T) {
	if err := pinProcess(os.Getpid(), 0); err != nil {
		t.Fatal(err)
	}
	defer pinProcess(os.Getpid()) //nolint:errcheck
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		t.Fatal(err)
	}
	if set.Count() != 1 || !set.IsSet(0) {
		t.Fatalf("after pinning to CPU 0 the thread may run on %d CPUs", set.Count())
	}
	if err := pinProcess(os.Getpid()); err != nil {
		t.Fatal(err)
	}
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		t.Fatal(err)
	}
	if set.Count() != runtime.NumCPU() {
		t.Fatalf("after unpinning the thread may run on %d of %d CPUs", set.Count(), runtime.NumCPU())
	}
}
