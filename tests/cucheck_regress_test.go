package tests

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// TestCUProblems checks the libiscsi run checker on recorded iscsi-test-cu output
// (testdata), no live run: a clean atgt run passes, and each way a run can hide tests
// that never ran fails it. The first two cases are the test review's (2026-12-01):
// a run killed by its timeout between two tests, and a suite whose set-up (login)
// failed, both of which the checker used to accept.
func TestCUProblems(t *testing.T) {
	list, err := os.ReadFile("testdata/iscsi-test-cu-list.txt")
	if err != nil {
		t.Fatal(err)
	}
	skips := expectedSkips(t)
	thin := []string{"all", "writable", "thin", "single-path", "no-sanitize"}
	killed := errors.New("iscsi-test-cu timed out after 3m0s: signal: killed")
	tests := []struct {
		name     string
		file     string
		edit     func(string) string // changes the recorded output, if set
		err      error
		sel      string
		variants []string
		want     []string // substrings of the problems; none means a clean run
	}{
		{name: "killed between two tests", file: "cunit-killed-between-tests.txt", err: killed, sel: "SCSI", variants: thin,
			want: []string{"did not exit 0", "213 of the 215 selected tests never ran", "no CUnit Run Summary"}},
		{name: "suite init failed", file: "cunit-suite-init-failed.txt", sel: "SCSI", variants: thin,
			want: []string{"suite set-up or clean-up failed (its tests did not run): init Read10", "never ran",
				"CUnit Run Summary tests", "CUnit Run Summary suites"}},
		{name: "clean thin run", file: "cunit-atgt-thin-scsi.txt", sel: "SCSI", variants: thin},
		{name: "clean run, but killed after its summary", file: "cunit-atgt-thin-scsi.txt", err: killed, sel: "SCSI", variants: thin,
			want: []string{"did not exit 0"}},
		{name: "clean run cut before its summary", file: "cunit-atgt-thin-scsi.txt", sel: "SCSI", variants: thin,
			edit: func(s string) string { return s[:strings.Index(s, "Run Summary:")] },
			want: []string{"no CUnit Run Summary (tests row)", "no CUnit Run Summary suites row"}},
		{name: "a whole suite missing", file: "cunit-atgt-thin-scsi.txt", sel: "SCSI", variants: thin,
			edit: func(s string) string { return dropSuite(s, "Read10") },
			want: []string{"6 of the 215 selected tests never ran: Read10.Simple"}},
		{name: "suite set-up failure, tests otherwise all there", file: "cunit-atgt-thin-scsi.txt", sel: "SCSI", variants: thin,
			edit: func(s string) string {
				return strings.Replace(s, "Suite: Read12\n", "Suite: Read12\n\nWARNING - Suite cleanup failed for 'Read12'.\n", 1)
			},
			want: []string{"cleanup Read12"}},
		{name: "summary disagrees", file: "cunit-atgt-thin-scsi.txt", sel: "SCSI", variants: thin,
			edit: func(s string) string {
				return strings.Replace(s, "tests    215    215    215", "tests    216    215    215", 1)
			},
			want: []string{"CUnit Run Summary tests"}},
		{name: "selection has more tests than ran", file: "cunit-atgt-thin-scsi.txt", sel: "ALL", variants: thin,
			want: []string{"15 of the 230 selected tests never ran"}},
		{name: "sanitize run skipping its CRYPTO ERASE part", file: "cunit-atgt-sanitize-reservations.txt",
			sel: "SCSI.Sanitize.Reservations", variants: []string{"all", "writable", "sanitize"}},
		{name: "sanitize run skipping another part", file: "cunit-atgt-sanitize-reservations.txt",
			sel: "SCSI.Sanitize.Reservations", variants: []string{"all", "writable", "sanitize"},
			edit: func(s string) string {
				return strings.Replace(s, "SANITIZE CRYPTO_ERASE is not", "SANITIZE OVERWRITE is not", 1)
			},
			want: []string{"Sanitize.Reservations may skip only its CRYPTO_ERASE part, but skipped: SANITIZE OVERWRITE is not implemented"}},
		{name: "read-only run", file: "cunit-atgt-read-only.txt", sel: "SCSI.ReadOnly", variants: []string{"all"}},
		{name: "read-only run where the LUN is not write protected", file: "cunit-atgt-read-only-skipped.txt", sel: "SCSI.ReadOnly",
			variants: []string{"all"}, want: []string{"skipped but not listed for this run (all) in testdata/expected-skips.txt: ReadOnly.ReadOnlySBC"}},
		{name: "read-only skip allowed on a writable LUN", file: "cunit-atgt-read-only-skipped.txt", sel: "SCSI.ReadOnly",
			variants: []string{"all", "writable"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := os.ReadFile("testdata/" + tc.file)
			if err != nil {
				t.Fatal(err)
			}
			out := string(b)
			if tc.edit != nil {
				edited := tc.edit(out)
				if edited == out {
					t.Fatal("the edit changed nothing")
				}
				out = edited
			}
			res, err := ParseCUnit(strings.NewReader(out))
			if err != nil {
				t.Fatal(err)
			}
			got := cuProblems(res, tc.err, selectedTests(string(list), tc.sel), skips, tc.variants)
			t.Logf("%v: %q", res, got)
			if len(tc.want) == 0 && len(got) > 0 {
				t.Errorf("a clean run has problems: %q", got)
			}
			if len(tc.want) > 0 && len(got) == 0 {
				t.Errorf("accepted, want problems %q", tc.want)
			}
			all := strings.Join(got, "\n")
			for _, w := range tc.want {
				if !strings.Contains(all, w) {
					t.Errorf("no problem says %q; got %q", w, got)
				}
			}
		})
	}
}

// dropSuite removes suite's lines (from its "Suite:" line to the next one) from a
// recorded run, as if it had silently not run.
func dropSuite(out, suite string) string {
	start := strings.Index(out, "Suite: "+suite+"\n")
	if start < 0 {
		return out
	}
	end := strings.Index(out[start+1:], "\nSuite: ")
	if end < 0 {
		return out
	}
	return out[:start] + out[start+1+end+1:]
}

// TestSelectedTests: the -t selection is read from the recorded list as the tool
// does: a family, a suite, or one test.
func TestSelectedTests(t *testing.T) {
	b, err := os.ReadFile("testdata/iscsi-test-cu-list.txt")
	if err != nil {
		t.Fatal(err)
	}
	list := string(b)
	for sel, n := range map[string]int{"SCSI": 215, "iSCSI": 15, "SCSI.MultipathIO": 4, "SCSI.ReadOnly": 1,
		"SCSI.Sanitize.Reset": 1, "SCSI.Read10": 6} {
		if got := selectedTests(list, sel); len(got) != n {
			t.Errorf("%s selects %d tests, want %d: %v", sel, len(got), n, got)
		}
	}
	if got := selectedTests(list, "SCSI.Read1"); len(got) != 0 {
		t.Errorf("SCSI.Read1 (a prefix of Read10) selects %v", got)
	}
}
