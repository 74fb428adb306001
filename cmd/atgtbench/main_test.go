package main

import (
	"bytes"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestParseProcStat(t *testing.T) {
	// A real line from tgtd, and a command name with spaces and parentheses.
	line := "13071 (tgtd) S 1 13066 8615 0 -1 4194304 27230 0 1 0 54 423 0 0 20 0 17 0 683518 142516224 1279 18446744073709551615 0 0 0 0 0"
	got, err := parseProcStat(line)
	if err != nil || math.Abs(got-4.77) > 1e-9 {
		t.Fatalf("parseProcStat(tgtd) = %v, %v; want 4.77", got, err)
	}
	got, err = parseProcStat("42 (a (b) c) R 1 1 1 0 -1 0 0 0 0 0 250 50 0 0 20 0 1 0")
	if err != nil || math.Abs(got-3.0) > 1e-9 {
		t.Fatalf("parseProcStat(odd name) = %v, %v; want 3", got, err)
	}
	for _, bad := range []string{"", "1 (x) S 1 2", "1 (x) S 1 1 1 0 -1 0 0 0 0 0 zz 5"} {
		if _, err := parseProcStat(bad); err == nil {
			t.Errorf("parseProcStat(%q) succeeded", bad)
		}
	}
	// Our own process has a readable stat.
	if _, err := cpuSeconds(os.Getpid()); err != nil {
		t.Fatalf("cpuSeconds(self): %v", err)
	}
}

func TestParsePerfAverage(t *testing.T) {
	out := "\r00:00:01 - lba 91504, iops current 27625 (107 MB/s), iops average 27625 (107 MB/s), in_flight 32, busy 0        " +
		"\r00:00:02 - lba 59969, iops current 22427 (87 MB/s), iops average 25026 (97 MB/s), in_flight 32, busy 0        " +
		"\r00:00:03 - lba 38905, iops current 22415 (87 MB/s), iops average 24155 (94 MB/s), in_flight 32, busy 7        \n\nfinished.\n"
	got, busy, err := parsePerfAverage(out)
	if err != nil || got != 24155 || busy != 7 {
		t.Fatalf("parsePerfAverage = %v, %v, %v; want 24155, 7", got, busy, err)
	}
	if _, _, err := parsePerfAverage("Failed to login to target\n"); err == nil {
		t.Fatal("parsePerfAverage succeeded without a figure")
	}
}

func TestParseQemuBench(t *testing.T) {
	out := "Sending 20000 write requests, 4096 bytes each, 32 in parallel (starting at offset 0, step size 4096)\nRun completed in 1.080 seconds.\n"
	got, err := parseQemuBench(out)
	if err != nil || got != 1.08 {
		t.Fatalf("parseQemuBench = %v, %v; want 1.08", got, err)
	}
	for _, bad := range []string{"qemu-img: Could not open 'iscsi://x': ...", "Run completed in 0 seconds."} {
		if _, err := parseQemuBench(bad); err == nil {
			t.Errorf("parseQemuBench(%q) succeeded", bad)
		}
	}
}

func TestParseIperf3(t *testing.T) {
	out := `Connecting to host 127.0.0.1, port 5201
[  5] local 127.0.0.1 port 40000 connected to 127.0.0.1 port 5201
[ ID] Interval           Transfer     Bitrate         Retr  Cwnd
[  5]   0.00-1.00   sec  1.68 GBytes  14.4 Gbits/sec    0   1.37 MBytes
- - - - - - - - - - - - - - - - - - - - - - - - -
[ ID] Interval           Transfer     Bitrate         Retr
[  5]   0.00-5.00   sec  8.40 GBytes  14.4 Gbits/sec    0             sender
[  5]   0.00-5.00   sec  8.40 GBytes  14.3 Gbits/sec                  receiver

iperf Done.
`
	got, err := parseIperf3(out)
	if err != nil || math.Abs(got-14.3e9) > 1 {
		t.Fatalf("parseIperf3 = %v, %v; want 14.3e9", got, err)
	}
	if _, err := parseIperf3("iperf3: error - unable to connect"); err == nil {
		t.Fatal("parseIperf3 succeeded without a summary")
	}
}

func TestParseISCSIURL(t *testing.T) {
	u, err := parseISCSIURL("iscsi://127.0.0.1:3261/iqn.2026-11.dev.atgt:bench/0")
	if err != nil || u.Addr != "127.0.0.1:3261" || u.Target != "iqn.2026-11.dev.atgt:bench" || u.LUN != 0 {
		t.Fatalf("got %+v, %v", u, err)
	}
	u, err = parseISCSIURL("iscsi://host/iqn.x:y/3")
	if err != nil || u.Addr != "host:3260" || u.LUN != 3 {
		t.Fatalf("default port: got %+v, %v", u, err)
	}
	for _, bad := range []string{"http://x/y/0", "iscsi://x/y", "iscsi://x/y/z", "iscsi://x/y/99999"} {
		if _, err := parseISCSIURL(bad); err == nil {
			t.Errorf("parseISCSIURL(%q) succeeded", bad)
		}
	}
}

func testRows() []row {
	nan := math.NaN()
	return []row{
		{Case: "go rand read 4K", Unit: "IOPS",
			Atgt: []sample{{40000, 1.5, 2, 0, 0, 0, 0, 0}, {42000, 1.7, 2.5, 1, 0, 0, 0, 0}, {38000, 1.6, 3, 2, 0, 0, 0, 0}},
			Tgt:  []sample{{20000, 3.0, 4, 0, 0, 0, 0, 0}, {24000, 3.2, 4, 2, 0, 0, 0, 0}}}, // tgt's repeat 1 failed
		{Case: "qemu-img seq read 128K", Unit: "MB/s",
			Atgt: []sample{{900.25, nan, nan, 0, 0, 0, 0, 0}}, Tgt: []sample{{1000, nan, nan, 0, 0, 0, 0, 0}}},
		{Case: "go seq write 2K", Unit: "IOPS", Note: "errors", Tgt: []sample{{1000, 2, 1, 0, 0, 0, 0, 0}}},
		{Case: iperfCase, Unit: "MB/s", Ref: true, Note: "n/a"},
	}
}

func TestSummarizeAndFormat(t *testing.T) {
	ss := summarize(testRows(), "median")
	// Paired: repeats 0 (40000/20000) and 2 (38000/24000); repeat 1 has no tgt run.
	wantPaired := (40000.0/20000 + 38000.0/24000) / 2
	if ss[0].Atgt != 40000 || ss[0].Tgt != 22000 || math.Abs(ss[0].Ratio-40000.0/22000) > 1e-12 || ss[0].AtgtCPU != 1.6 ||
		math.Abs(ss[0].PairedRatio-wantPaired) > 1e-12 {
		t.Fatalf("median summary: %+v", ss[0])
	}
	if best := summarize(testRows(), "best"); best[0].Atgt != 42000 || best[0].Tgt != 24000 {
		t.Fatalf("best summary: %+v", best[0])
	}
	want := []string{"go rand read 4K", "IOPS", "40000", "22000", "1.82", "1.79", "1.60", "3.10", "2.50", "4.00"}
	if got := ss[0].cells(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("cells = %q, want %q", got, want)
	}
	if got := ss[1].cells(); got[2] != "900.2" && got[2] != "900.3" || got[4] != "0.90" || got[5] != "0.90" || got[6] != "n/a" {
		t.Fatalf("MB/s cells = %q", got)
	}
	if got := ss[2].cells(); got[2] != "n/a" || got[4] != "n/a" {
		t.Fatalf("missing side cells = %q", got)
	}
	if got := ss[3].cells(); got[2] != "n/a" || got[3] != "-" {
		t.Fatalf("reference row cells = %q", got)
	}

	var csvOut bytes.Buffer
	if err := writeCSV(&csvOut, ss); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(csvOut.String()), "\n")
	if len(lines) != 5 || lines[0] != "case,unit,atgt,tgt,ratio atgt/tgt,paired ratio,atgt CPU s/GB,tgt CPU s/GB,client CPU s/GB (atgt),client CPU s/GB (tgt)" ||
		lines[1] != "go rand read 4K,IOPS,40000,22000,1.82,1.79,1.60,3.10,2.50,4.00" || lines[4] != `"iperf3 loopback, 1 stream",MB/s,n/a,-,-,-,-,-,-,-` {
		t.Fatalf("CSV:\n%s", csvOut.String())
	}

	md := markdownTable(ss)
	mdLines := strings.Split(strings.TrimSpace(md), "\n")
	if len(mdLines) != 6 || mdLines[1] != "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|" ||
		mdLines[2] != "| go rand read 4K | IOPS | 40000 | 22000 | 1.82 | 1.79 | 1.60 | 3.10 | 2.50 | 4.00 |" {
		t.Fatalf("Markdown:\n%s", md)
	}

	txt := textTable(ss)
	tl := strings.Split(strings.TrimRight(txt, "\n"), "\n")
	if len(tl) != 6 || !strings.HasPrefix(tl[1], "----") || len(tl[0]) != len(tl[2]) {
		t.Fatalf("text table:\n%s", txt)
	}
}

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{{[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
	if !math.IsNaN(median(nil)) {
		t.Error("median(nil) is not NaN")
	}
}

func TestChart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ratios.png")
	if err := writeChart(path, summarize(testRows(), "median"), "2 CPUs (test)"); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() < 400 || b.Dy() < 100 {
		t.Fatalf("chart is only %v", b)
	}
}

func TestCaseNames(t *testing.T) {
	c := &config{sizes: []int{2048, 131072}}
	var err error
	c.cases, err = compileAll()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, bc := range buildCases(c) {
		if names[bc.Name] {
			t.Errorf("duplicate case %q", bc.Name)
		}
		names[bc.Name] = true
		if bc.Unit != "IOPS" && bc.Unit != "MB/s" {
			t.Errorf("case %q: unit %q", bc.Name, bc.Unit)
		}
	}
	for _, n := range []string{"go seq read 2K", "go rand write 128K", "iscsi-perf rand read 4K", "qemu-img seq write 128K"} {
		if !names[n] {
			t.Errorf("no case %q in %v", n, names)
		}
	}
}

func compileAll() (*regexp.Regexp, error) { return regexp.Compile("") }

// TestPairedRatioFollowsDrift: when the machine slows down for both targets during a
// case, the ratio of medians can even invert; the paired ratio compares each repeat's
// back-to-back runs.
func TestPairedRatioFollowsDrift(t *testing.T) {
	atgt := []sample{{Value: 100, Rep: 0}, {Value: 100, Rep: 1}, {Value: 300, Rep: 2}}
	tgt := []sample{{Value: 50, Rep: 0}, {Value: 150, Rep: 1}, {Value: 150, Rep: 2}}
	ss := summarize([]row{{Case: "c", Unit: "IOPS", Atgt: atgt, Tgt: tgt}}, "median")
	if math.Abs(ss[0].Ratio-100.0/150) > 1e-12 || ss[0].PairedRatio != 2 {
		t.Fatalf("ratio %v paired %v, want 0.67 and 2 (pairs 2, 0.67, 2)", ss[0].Ratio, ss[0].PairedRatio)
	}
	if r := pairedRatio(atgt, nil); !math.IsNaN(r) {
		t.Fatalf("paired ratio without tgt runs = %v, want NaN", r)
	}
}
