package tests

import (
	"os"
	"slices"
	"strings"
	"testing"
)

// TestParseCUnitCaptured checks the parser on real iscsi-test-cu 1.19 output captured
// against tgt 1.0.85 (file-backed LUN): the verdict counts must match CUnit's own Run
// Summary, and the tricky cases (inline verdict followed by clean-up chatter, [FAILED]
// lines in a passing test, a blank line between [SKIPPED] and the verdict) must land
// in the right list.
func TestParseCUnitCaptured(t *testing.T) {
	tests := []struct {
		file                     string
		passed, failed, skipped  int
		wantFailed               []string
		wantPassed, wantSkipped  []string
		notFailed, notSkipped    []string
		summaryTotal, summaryRan int
	}{
		{
			file:   "testdata/tgt-scsi.txt",
			passed: 146, failed: 7, skipped: 62,
			wantFailed: []string{
				"GetLBAStatus.BeyondEol", "PrinServiceactionRange.Range",
				"ProutReserve.OwnershipEA", "ProutReserve.OwnershipWE",
				"ProutReserve.OwnershipEARO", "ProutReserve.OwnershipWERO",
				"Reserve6.2Initiators",
			},
			// LUNReset prints its verdict inline and then clean-up [FAILED] chatter;
			// UnmapVPD prints [FAILED] but tolerates it.
			wantPassed:  []string{"Reserve6.LUNReset", "WriteSame10.UnmapVPD", "Read10.Simple", "TestUnitReady.Simple"},
			wantSkipped: []string{"CompareAndWrite.Simple", "Reserve6.TargetColdReset", "Reserve6.TargetWarmReset", "MultipathIO.Simple"},
			// The chatter after Reserve6.LUNReset's verdict must not mark the
			// next test.
			notFailed:    []string{"Sanitize.BlockErase"},
			notSkipped:   []string{"Reserve6.LUNReset", "Reserve6.Logout"},
			summaryTotal: 215, summaryRan: 215,
		},
		{
			file:   "testdata/tgt-iscsi.txt",
			passed: 14, failed: 1, skipped: 0,
			wantFailed:   []string{"iSCSIdatasn.iSCSIDataSnInvalid"},
			wantPassed:   []string{"iSCSIcmdsn.iSCSICmdSnTooHigh", "iSCSIResiduals.Read10Invalid", "iSCSITMF.LUNResetSimpleAsync"},
			summaryTotal: 15, summaryRan: 15,
		},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			f, err := os.Open(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			r, err := ParseCUnit(f)
			if err != nil {
				t.Fatal(err)
			}
			t.Log(r)
			if len(r.Passed) != tc.passed || len(r.Failed) != tc.failed || len(r.Skipped) != tc.skipped {
				t.Errorf("got %d/%d/%d passed/failed/skipped, want %d/%d/%d",
					len(r.Passed), len(r.Failed), len(r.Skipped), tc.passed, tc.failed, tc.skipped)
			}
			if !slices.Equal(r.Failed, tc.wantFailed) {
				t.Errorf("failed = %q, want %q", r.Failed, tc.wantFailed)
			}
			if len(r.Unfinished) != 0 {
				t.Errorf("unfinished = %q, want none", r.Unfinished)
			}
			for _, n := range tc.wantPassed {
				if !slices.Contains(r.Passed, n) {
					t.Errorf("%s not in passed", n)
				}
			}
			for _, n := range tc.wantSkipped {
				if !slices.Contains(r.Skipped, n) {
					t.Errorf("%s not in skipped", n)
				}
			}
			for _, n := range tc.notFailed {
				if slices.Contains(r.Failed, n) {
					t.Errorf("%s wrongly in failed", n)
				}
			}
			for _, n := range tc.notSkipped {
				if slices.Contains(r.Skipped, n) {
					t.Errorf("%s wrongly in skipped", n)
				}
			}
			if r.Summary == nil {
				t.Fatal("no Run Summary parsed")
			}
			if r.Summary.Total != tc.summaryTotal || r.Summary.Ran != tc.summaryRan ||
				r.Summary.Failed != len(r.Failed) || r.Summary.Passed != len(r.Passed)+len(r.Skipped) {
				t.Errorf("summary %+v disagrees with verdicts %v", *r.Summary, r)
			}
		})
	}
}

// TestParseCUnitSynthetic covers the cases the captured runs do not: a run cut short in
// the middle of a test, and output with no tests at all.
func TestParseCUnitSynthetic(t *testing.T) {
	tests := []struct {
		name                    string
		in                      string
		passed, failed, skipped []string
		unfinished              []string
	}{
		{
			name: "cut short",
			in: "Suite: Read10\n  Test: Simple ...passed\n" +
				"  Test: BeyondEol ...    [SKIPPED] not yet\n    some text\n",
			passed:     []string{"Read10.Simple"},
			failed:     []string{"Read10.BeyondEol"},
			unfinished: []string{"Read10.BeyondEol"},
		},
		{
			name: "crash then next suite",
			in: "Suite: A\n  Test: One ...\nSuite: B\n  Test: Two ...FAILED\n" +
				"    1. x.c:1  - CU_ASSERT\n  Test: Three ...    [SKIPPED] no\n    [SKIPPED] no\npassed\n",
			failed:     []string{"A.One", "B.Two"},
			skipped:    []string{"B.Three"},
			unfinished: []string{"A.One"},
		},
		{
			name: "skip note after verdict belongs to no test",
			in: "Suite: A\n  Test: One ...passed    [SKIPPED] clean-up\n    [SKIPPED] more\n" +
				"  Test: Two ...passed\n",
			passed: []string{"A.One", "A.Two"},
		},
		{
			name: "no tests",
			in:   "Login Failed. Failed to log in to target.\nFailed to connect to SCSI device 0\n",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ParseCUnit(strings.NewReader(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			check := func(what string, got, want []string) {
				if !slices.Equal(got, want) {
					t.Errorf("%s = %q, want %q", what, got, want)
				}
			}
			check("passed", r.Passed, tc.passed)
			check("failed", r.Failed, tc.failed)
			check("skipped", r.Skipped, tc.skipped)
			check("unfinished", r.Unfinished, tc.unfinished)
		})
	}
}
