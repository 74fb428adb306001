package tests

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// expectedSkips reads testdata/expected-skips.txt: for each variant ("all" or a run's
// name), the tests that may be skipped and why.
func expectedSkips(t *testing.T) map[string]map[string]string {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "expected-skips.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 3 {
			t.Fatalf("expected-skips.txt: %q needs VARIANT TEST REASON", line)
		}
		if out[fields[0]] == nil {
			out[fields[0]] = map[string]string{}
		}
		out[fields[0]][fields[1]] = strings.Join(fields[2:], " ")
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

var cuList struct {
	once sync.Once
	out  string
	err  error
}

// cuSelected returns the tests ("Suite.Test") that iscsi-test-cu -t sel runs, from the
// tool's own list (iscsi-test-cu -l, run once per test binary).
func cuSelected(t *testing.T, cu, sel string) []string {
	t.Helper()
	cuList.once.Do(func() { cuList.out, cuList.err = runTool(t, time.Minute, cu, "-l") })
	if cuList.err != nil {
		t.Fatalf("iscsi-test-cu -l: %v\n%s", cuList.err, cuList.out)
	}
	names := selectedTests(cuList.out, sel)
	if len(names) == 0 {
		t.Fatalf("iscsi-test-cu -l lists no test under %q", sel)
	}
	return names
}

// selectedTests reads the output of iscsi-test-cu -l (one FAMILY, FAMILY.Suite or
// FAMILY.Suite.Test a line) and returns the tests, as "Suite.Test", that -t sel
// selects: sel itself if it names a test, else every test under it.
func selectedTests(list, sel string) []string {
	var out []string
	for _, line := range strings.Split(list, "\n") {
		line = strings.TrimSpace(line)
		parts := strings.Split(line, ".")
		if len(parts) != 3 || (line != sel && !strings.HasPrefix(line, sel+".")) {
			continue
		}
		out = append(out, parts[1]+"."+parts[2])
	}
	return out
}

// cuProblems returns what is wrong with one iscsi-test-cu run whose output parsed as
// res and whose exit was err, given the tests its selection contains (expected) and
// the skips the run's variants allow. A run is right only if the tool exited 0 on its
// own, every suite set up and cleaned up, every expected test (and no other) got a
// verdict, none FAILED, every skip is listed, and CUnit's Run Summary agrees: all
// suites and tests ran, none failed or was inactive, and its counts are the parsed
// ones.
func cuProblems(res *CUResults, err error, expected []string, skips map[string]map[string]string, variants []string) []string {
	var p []string
	if err != nil {
		p = append(p, fmt.Sprintf("iscsi-test-cu did not exit 0 by itself: %v", err))
	}
	if len(res.SuiteFailures) > 0 {
		p = append(p, "suite set-up or clean-up failed (its tests did not run): "+strings.Join(res.SuiteFailures, ", "))
	}
	if res.Count() == 0 {
		p = append(p, "ran no test")
	}
	if len(res.Failed) > 0 {
		p = append(p, "FAILED: "+strings.Join(res.Failed, ", "))
	}
	if len(res.Unfinished) > 0 {
		p = append(p, "without a verdict: "+strings.Join(res.Unfinished, ", "))
	}
	got := res.Verdicts()
	var missing, extra []string
	for _, n := range expected {
		if !slices.Contains(got, n) {
			missing = append(missing, n)
		}
	}
	for _, n := range got {
		if !slices.Contains(expected, n) {
			extra = append(extra, n)
		}
	}
	if len(missing) > 0 {
		p = append(p, fmt.Sprintf("%d of the %d selected tests never ran: %s", len(missing), len(expected), someNames(missing)))
	}
	if len(extra) > 0 {
		p = append(p, "ran tests the selection does not contain: "+someNames(extra))
	}
	var unexpected []string
	for _, name := range res.Skipped {
		reason, ok := listedReason(skips, variants, name)
		if !ok {
			unexpected = append(unexpected, name)
			continue
		}
		// "skips:PART reason": only PART of the test may skip; every [SKIPPED]
		// note must name it.
		if part, ok := strings.CutPrefix(reason, "skips:"); ok {
			part, _, _ = strings.Cut(part, " ")
			for _, note := range res.SkipNotes[name] {
				if !strings.Contains(note, part) {
					p = append(p, fmt.Sprintf("%s may skip only its %s part, but skipped: %s", name, part, note))
				}
			}
		}
	}
	sort.Strings(unexpected)
	if len(unexpected) > 0 {
		p = append(p, "skipped but not listed for this run ("+strings.Join(variants, ", ")+") in testdata/expected-skips.txt: "+strings.Join(unexpected, ", "))
	}
	switch s := res.Summary; {
	case s == nil:
		p = append(p, "no CUnit Run Summary (tests row): the run did not finish")
	case s.Total != len(expected) || s.Ran != len(expected) || s.Failed != 0 || s.Inactive != 0 ||
		s.Passed != len(res.Passed)+len(res.Skipped):
		p = append(p, fmt.Sprintf("CUnit Run Summary tests %+v, want %d run, %d passed (as parsed), none failed or inactive",
			*s, len(expected), len(res.Passed)+len(res.Skipped)))
	}
	switch s := res.Suites; {
	case s == nil:
		p = append(p, "no CUnit Run Summary suites row")
	case s.Ran != s.Total || s.Failed != 0 || s.Inactive != 0:
		p = append(p, fmt.Sprintf("CUnit Run Summary suites %+v: a suite did not run or failed", *s))
	}
	return p
}

// checkCUnit parses one iscsi-test-cu run of selection fam and fails t for each of
// cuProblems' findings; on failure it logs the output.
func checkCUnit(t *testing.T, run, fam, out string, err error, expected []string, skips map[string]map[string]string, variants []string) *CUResults {
	t.Helper()
	res, perr := ParseCUnit(strings.NewReader(out))
	if perr != nil {
		t.Fatalf("parsing iscsi-test-cu output: %v", perr)
	}
	t.Logf("%s %s: %v", run, fam, res)
	for _, p := range cuProblems(res, err, expected, skips, variants) {
		t.Errorf("%s %s: %s", run, fam, p)
	}
	if t.Failed() {
		t.Logf("iscsi-test-cu output:\n%s", out)
	}
	return res
}

// runCU runs iscsi-test-cu -d -v [extra] -t fam URL... and checks the run with
// checkCUnit against the tests fam selects.
func runCU(t *testing.T, cu string, timeout time.Duration, run, fam string, extra []string, urls []string,
	skips map[string]map[string]string, variants []string) *CUResults {
	t.Helper()
	res, _ := runCUOut(t, cu, timeout, run, fam, extra, urls, skips, variants)
	return res
}

// runCUOut is runCU that also returns the tool's output.
func runCUOut(t *testing.T, cu string, timeout time.Duration, run, fam string, extra []string, urls []string,
	skips map[string]map[string]string, variants []string) (*CUResults, string) {
	t.Helper()
	args := append([]string{"-d", "-v"}, extra...)
	args = append(args, "-t", fam)
	args = append(args, urls...)
	out, err := runTool(t, timeout, cu, args...)
	return checkCUnit(t, run, fam, out, err, cuSelected(t, cu, fam), skips, variants), out
}

// listedReason returns the reason expected-skips.txt gives for name under the
// first of variants that lists it.
func listedReason(skips map[string]map[string]string, variants []string, name string) (string, bool) {
	for _, v := range variants {
		if r, ok := skips[v][name]; ok {
			return r, true
		}
	}
	return "", false
}

// someNames joins the first 20 names, saying how many more there are.
func someNames(names []string) string {
	if len(names) <= 20 {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:20], ", "), len(names)-20)
}
