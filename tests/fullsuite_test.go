package tests

import (
	"bufio"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
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

// TestFullSuite runs libiscsi's whole SCSI and iSCSI families against a thin and a
// thick 1 GiB file LUN, the multipath tests with two sessions to one LUN, the
// read-only test against a read-only LUN, and the SANITIZE tests (which libiscsi runs
// only with --allow-sanitize) against a small thin LUN that allows SANITIZE. It fails
// on any FAILED test, any test without a verdict, and any skip that
// testdata/expected-skips.txt does not list with its reason.
func TestFullSuite(t *testing.T) {
	cu := requireLibiscsi(t, "iscsi-test-cu")
	skips := expectedSkips(t)
	type run struct {
		name     string   // a variant name in expected-skips.txt
		variants []string // the skip lists that apply
		families []string
		paths    int
		lun      func(*testLun)
		size     int64         // LUN size; 0 means 1 GiB
		args     []string      // extra iscsi-test-cu arguments
		timeout  time.Duration // per iscsi-test-cu run; 0 means cuRunTimeout
	}
	runs := []run{
		{name: "thin", variants: []string{"all", "thin", "single-path", "no-sanitize"}, families: []string{"SCSI", "iSCSI"}, paths: 1,
			lun: func(l *testLun) { l.Provisioning = "thin" }},
		{name: "thick", variants: []string{"all", "thick", "single-path", "no-sanitize"}, families: []string{"SCSI", "iSCSI"}, paths: 1,
			lun: func(l *testLun) { l.Provisioning = "thick" }},
		{name: "multipath", variants: []string{"all"}, families: []string{"SCSI.MultipathIO"}, paths: 2, lun: func(*testLun) {}},
		{name: "read-only", variants: []string{"all"}, families: []string{"SCSI.ReadOnly"}, paths: 1, lun: func(l *testLun) { l.ReadOnly = true }},
		// SANITIZE erases the whole LUN (several times in Overwrite), so the LUN is
		// small.
		{name: "sanitize", variants: []string{"all", "sanitize"}, paths: 1, size: 64 << 20, args: []string{"--allow-sanitize"},
			families: []string{"SCSI.Sanitize.BlockErase", "SCSI.Sanitize.BlockEraseReserved", "SCSI.Sanitize.CryptoErase",
				"SCSI.Sanitize.CryptoEraseReserved", "SCSI.Sanitize.ExitFailureMode", "SCSI.Sanitize.InvalidServiceAction",
				"SCSI.Sanitize.Overwrite", "SCSI.Sanitize.OverwriteReserved", "SCSI.Sanitize.Readonly",
				"SCSI.Sanitize.Reservations"},
			lun: func(l *testLun) { l.Provisioning, l.AllowSanitize = "thin", true }},
		// A SANITIZE slowed to 8 MiB/s (8 s for the LUN) must go on through ABORT TASK,
		// ABORT TASK SET, LUN and target resets and a reconnect; the test then polls
		// once a minute until it is done.
		{name: "sanitize-reset", variants: []string{"all", "sanitize"}, paths: 1, size: 64 << 20,
			args: []string{"--allow-sanitize"}, families: []string{"SCSI.Sanitize.Reset"}, timeout: 5 * time.Minute,
			lun: func(l *testLun) {
				l.Provisioning, l.AllowSanitize, l.SanitizeBytesPerSecond = "thin", true, strconv.Itoa(8<<20)
			}},
	}
	var passed, skipped int
	for _, r := range runs {
		t.Run(r.name, func(t *testing.T) {
			size := r.size
			if size == 0 {
				size = 1 << 30
			}
			cfg := oneLunConfig(t, size, cuInitiator1, cuInitiator2)
			lun := &cfg.Targets[0].Luns[0]
			r.lun(lun)
			if lun.ReadOnly {
				// A read-only LUN is not created: make its file first.
				if err := os.WriteFile(lun.Path, nil, 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.Truncate(lun.Path, 64<<20); err != nil {
					t.Fatal(err)
				}
				lun.SizeBytes = "0"
			}
			d := startDaemonConfig(t, cfg)
			for _, fam := range r.families {
				args := append([]string{"-d", "-v"}, r.args...)
				args = append(args, "-t", fam)
				for range r.paths {
					args = append(args, d.url(defaultIQN, testLUN))
				}
				timeout := r.timeout
				if timeout == 0 {
					timeout = cuRunTimeout
				}
				out, err := runTool(t, timeout, cu, args...)
				res := checkCUnit(t, r.name, fam, out, err, skips, r.variants)
				passed += len(res.Passed)
				skipped += len(res.Skipped)
			}
			if !d.alive() {
				t.Errorf("atgtd died: %v", d.err)
			}
		})
	}
	t.Logf("all runs: %d passed, %d skipped (as listed)", passed, skipped)
}

// checkCUnit parses one iscsi-test-cu run of family fam and fails t for a failed
// test, one without a verdict, no test at all, or a skip that
// testdata/expected-skips.txt does not list for variants; on failure it logs the
// output.
func checkCUnit(t *testing.T, run, fam, out string, err error, skips map[string]map[string]string, variants []string) *CUResults {
	t.Helper()
	res, perr := ParseCUnit(strings.NewReader(out))
	if perr != nil {
		t.Fatalf("parsing iscsi-test-cu output: %v", perr)
	}
	t.Logf("%s %s: %v", run, fam, res)
	if res.Count() == 0 {
		t.Errorf("%s: iscsi-test-cu ran no test (exit: %v)", fam, err)
	}
	if len(res.Failed) > 0 {
		t.Errorf("%s FAILED: %s", fam, strings.Join(res.Failed, ", "))
	}
	if len(res.Unfinished) > 0 {
		t.Errorf("%s without a verdict: %s", fam, strings.Join(res.Unfinished, ", "))
	}
	var unexpected []string
	for _, name := range res.Skipped {
		if !listed(skips, variants, name) {
			unexpected = append(unexpected, name)
		}
	}
	sort.Strings(unexpected)
	if len(unexpected) > 0 {
		t.Errorf("%s: skipped but not in testdata/expected-skips.txt: %s", fam, strings.Join(unexpected, ", "))
	}
	if t.Failed() {
		t.Logf("iscsi-test-cu output:\n%s", out)
	}
	return res
}

func listed(skips map[string]map[string]string, variants []string, name string) bool {
	for _, v := range variants {
		if _, ok := skips[v][name]; ok {
			return true
		}
	}
	return false
}
