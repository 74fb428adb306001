// Package tests holds atgt's end-to-end tests: they build the real atgtd daemon, start
// it on a loopback ephemeral port and drive it with real initiators (libiscsi's
// iscsi-ls, iscsi-inq, iscsi-readcapacity16 and iscsi-test-cu, and qemu-img) and with
// hand-made malformed PDUs over raw TCP.
//
// The client tools come from the Debian packages libiscsi-bin, qemu-utils and
// qemu-block-extra (scripts/install-test-deps.sh installs them). A missing tool fails
// the test; nothing is skipped.
//
// Two environment variables let the suite run against a stand-in, for instance to
// check the tests themselves against another target: ATGTD_BIN names a prebuilt binary
// that honours the atgtd command line instead of building ./cmd/atgtd, and
// ATGT_TEST_LUN chooses the LUN number the clients address (default 0).
package tests

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// CUResults is what one verbose iscsi-test-cu run reported, test by test. Test names
// are "Suite.Test" (test names alone repeat across suites).
type CUResults struct {
	// Passed lists the tests whose verdict was "passed" and that printed no
	// [SKIPPED] note.
	Passed []string
	// Failed lists the tests whose verdict was "FAILED", plus any test that started
	// but never got a verdict (the tool crashed, lost the target or was killed); those
	// also appear in Unfinished.
	Failed []string
	// Skipped lists the tests whose verdict was "passed" but that printed [SKIPPED]:
	// they did not exercise the feature.
	Skipped []string
	// Unfinished lists the tests that started without a verdict.
	Unfinished []string
	// Summary is CUnit's own "tests" line from the Run Summary, if it was printed.
	Summary *CUSummary
	// Suites is the Run Summary's "suites" line (its Passed column is "n/a": -1).
	Suites *CUSummary
	// SkipNotes holds, for each test that printed [SKIPPED], what followed it on
	// each such line (libiscsi's reason: "SANITIZE CRYPTO_ERASE is not
	// implemented ...").
	SkipNotes map[string][]string
	// SuiteFailures lists the suites whose set-up or clean-up failed, as
	// "init Read10" or "cleanup Read10". A suite whose set-up (libiscsi's login)
	// failed runs none of its tests, and no test line says so.
	SuiteFailures []string
}

// CUSummary is a row ("tests" or "suites") of CUnit's Run Summary table.
type CUSummary struct {
	Total, Ran, Passed, Failed, Inactive int
}

// Verdicts returns the tests that got a verdict (passed, skipped or FAILED), each
// once.
func (r *CUResults) Verdicts() []string {
	seen := map[string]bool{}
	var out []string
	for _, l := range [][]string{r.Passed, r.Skipped, r.Failed} {
		for _, n := range l {
			if !seen[n] {
				seen[n] = true
				out = append(out, n)
			}
		}
	}
	return out
}

// CUnit's messages (CUnit 2.1-3, Basic.c) for a suite whose init or clean-up
// function failed.
const (
	cuSuiteInitFailed    = "Suite initialization failed for '"
	cuSuiteCleanupFailed = "Suite cleanup failed for '"
)

// Count returns the number of tests seen with or without a verdict.
func (r *CUResults) Count() int {
	return len(r.Passed) + len(r.Failed) + len(r.Skipped)
}

// String gives the counts in one line.
func (r *CUResults) String() string {
	return fmt.Sprintf("%d tests: %d passed, %d failed, %d skipped",
		r.Count(), len(r.Passed), len(r.Failed), len(r.Skipped))
}

// ParseCUnit reads the verbose output of iscsi-test-cu (-v) and sorts each test by its
// verdict.
//
// The format, as printed by libiscsi 1.19 with CUnit 2.1-3:
//
//	Suite: Read10
//	  Test: Simple ...passed
//	  Test: BeyondEol ...    [FAILED] READ10 successful but should have failed ...
//	FAILED
//	    1. test_read10_beyond_eol.c:38  - CU_ASSERT_EQUAL(_r,0)
//	  Test: DpoFua ...    [SKIPPED] ... is not implemented.
//	passed
//	  Test: LUNReset ...passed    [FAILED] PRIN command: ...   (clean-up chatter)
//
// A test runs from its "  Test: NAME ..." line to its verdict, which is either right
// after the "..." or at the start of a later line. Only the verdict counts: a test may
// print [FAILED] and still pass. A passed test that printed [SKIPPED] before its verdict
// is a skip. Anything after the verdict and before the next test (the suite clean-up's
// messages) belongs to no test.
func ParseCUnit(r io.Reader) (*CUResults, error) {
	res := &CUResults{}
	var (
		suite   string
		cur     string // current test, "" when none is running
		skipped bool
	)
	finishUnfinished := func() {
		if cur != "" {
			res.Unfinished = append(res.Unfinished, cur)
			res.Failed = append(res.Failed, cur)
			cur = ""
		}
	}
	// text handles the part of a line that belongs to the running test.
	text := func(s string) {
		if cur == "" {
			return
		}
		switch {
		case strings.HasPrefix(s, "passed"):
			if skipped {
				res.Skipped = append(res.Skipped, cur)
			} else {
				res.Passed = append(res.Passed, cur)
			}
			cur = ""
		case strings.HasPrefix(s, "FAILED"):
			res.Failed = append(res.Failed, cur)
			cur = ""
		case strings.Contains(s, "[SKIPPED]"):
			skipped = true
			_, note, _ := strings.Cut(s, "[SKIPPED]")
			if res.SkipNotes == nil {
				res.SkipNotes = map[string][]string{}
			}
			res.SkipNotes[cur] = append(res.SkipNotes[cur], strings.TrimSpace(note))
		}
	}
	inSummary := false
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "Suite: "):
			finishUnfinished()
			suite = strings.TrimSpace(strings.TrimPrefix(line, "Suite: "))
		case strings.HasPrefix(line, "  Test: "):
			finishUnfinished()
			rest := strings.TrimPrefix(line, "  Test: ")
			name, after, ok := strings.Cut(rest, " ...")
			if !ok {
				name, after = strings.TrimSpace(rest), ""
			}
			cur, skipped = suite+"."+name, false
			text(after)
		case strings.HasPrefix(line, "Run Summary:"):
			finishUnfinished()
			inSummary = true
		case strings.Contains(line, cuSuiteInitFailed):
			finishUnfinished()
			res.SuiteFailures = append(res.SuiteFailures, "init "+quotedSuite(line, cuSuiteInitFailed))
		case strings.Contains(line, cuSuiteCleanupFailed):
			finishUnfinished()
			res.SuiteFailures = append(res.SuiteFailures, "cleanup "+quotedSuite(line, cuSuiteCleanupFailed))
		case inSummary && strings.HasPrefix(strings.TrimSpace(line), "tests "):
			res.Summary = summaryRow(line)
		case inSummary && strings.HasPrefix(strings.TrimSpace(line), "suites "):
			res.Suites = summaryRow(line)
		default:
			text(line)
		}
	}
	finishUnfinished()
	return res, sc.Err()
}

// quotedSuite returns the suite name after msg in line, up to the closing quote.
func quotedSuite(line, msg string) string {
	_, rest, _ := strings.Cut(line, msg)
	name, _, _ := strings.Cut(rest, "'")
	return name
}

// summaryRow parses a Run Summary row "NAME Total Ran Passed Failed Inactive"; "n/a"
// reads as -1. It returns nil for a row of another shape.
func summaryRow(line string) *CUSummary {
	f := strings.Fields(line)
	if len(f) != 6 {
		return nil
	}
	var n [5]int
	for i := range n {
		if f[i+1] == "n/a" {
			n[i] = -1
			continue
		}
		v, err := strconv.Atoi(f[i+1])
		if err != nil {
			return nil
		}
		n[i] = v
	}
	return &CUSummary{Total: n[0], Ran: n[1], Passed: n[2], Failed: n[3], Inactive: n[4]}
}
