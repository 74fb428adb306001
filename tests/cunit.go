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
}

// CUSummary is the "tests" row of CUnit's Run Summary table.
type CUSummary struct {
	Total, Ran, Passed, Failed, Inactive int
}

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
		case inSummary && strings.HasPrefix(strings.TrimSpace(line), "tests "):
			f := strings.Fields(line)
			if len(f) == 6 {
				var n [5]int
				ok := true
				for i := range n {
					v, err := strconv.Atoi(f[i+1])
					if err != nil {
						ok = false
						break
					}
					n[i] = v
				}
				if ok {
					res.Summary = &CUSummary{Total: n[0], Ran: n[1], Passed: n[2], Failed: n[3], Inactive: n[4]}
				}
			}
		default:
			text(line)
		}
	}
	finishUnfinished()
	return res, sc.Err()
}
