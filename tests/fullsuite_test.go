package tests

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// TestFullSuite runs libiscsi's whole SCSI and iSCSI families against a thin and a
// thick 1 GiB file LUN, the multipath tests with two sessions to one LUN, the
// read-only test against a read-only LUN, and the SANITIZE tests (which libiscsi runs
// only with --allow-sanitize) against a small thin LUN that allows SANITIZE. Each run
// is checked by cuProblems: it fails when the tool does not exit 0 by itself, a suite
// fails to set up, any selected test did not run or has no verdict, any test FAILED,
// the Run Summary disagrees, or a test skips that testdata/expected-skips.txt does not
// list, with its reason, for that run's variants.
//
// It and TestFullSuiteSanitizeReset run in parallel with each other, after the
// package's other tests: the SANITIZE reset test spends two minutes in libiscsi's
// sleep(60) polls, and so it waits beside the others instead of after them.
func TestFullSuite(t *testing.T) {
	t.Parallel()
	cu := requireLibiscsi(t, "iscsi-test-cu")
	skips := expectedSkips(t)
	runs := []fullSuiteRun{
		{name: "thin", variants: []string{"all", "writable", "thin", "single-path", "no-sanitize"}, families: []string{"SCSI", "iSCSI"}, paths: 1,
			lun: func(l *testLun) { l.Provisioning = "thin" }},
		{name: "thick", variants: []string{"all", "writable", "thick", "single-path", "no-sanitize"}, families: []string{"SCSI", "iSCSI"}, paths: 1,
			lun: func(l *testLun) { l.Provisioning = "thick" }},
		{name: "multipath", variants: []string{"all", "writable"}, families: []string{"SCSI.MultipathIO"}, paths: 2, lun: func(*testLun) {}},
		// Only "all": ReadOnly.ReadOnlySBC, skipped on a writable LUN, must pass here.
		{name: "read-only", variants: []string{"all"}, families: []string{"SCSI.ReadOnly"}, paths: 1, lun: func(l *testLun) { l.ReadOnly = true }},
		// SANITIZE erases the whole LUN (several times in Overwrite), so the LUN is
		// small.
		{name: "sanitize", variants: []string{"all", "writable", "sanitize"}, paths: 1, size: 64 << 20, args: []string{"--allow-sanitize"},
			families: []string{"SCSI.Sanitize.BlockErase", "SCSI.Sanitize.BlockEraseReserved", "SCSI.Sanitize.CryptoErase",
				"SCSI.Sanitize.CryptoEraseReserved", "SCSI.Sanitize.ExitFailureMode", "SCSI.Sanitize.InvalidServiceAction",
				"SCSI.Sanitize.Overwrite", "SCSI.Sanitize.OverwriteReserved", "SCSI.Sanitize.Readonly",
				"SCSI.Sanitize.Reservations"},
			lun: func(l *testLun) { l.Provisioning, l.AllowSanitize = "thin", true }},
	}
	var passed, skipped int
	for _, r := range runs {
		t.Run(r.name, func(t *testing.T) {
			p, sk := r.do(t, cu, skips)
			passed += p
			skipped += sk
		})
	}
	t.Logf("all runs: %d passed, %d skipped (as listed)", passed, skipped)
}

// TestFullSuiteSanitizeReset runs libiscsi's SCSI.Sanitize.Reset: a SANITIZE slowed
// to 8 MiB/s (8 s for the LUN) must go on through ABORT TASK, ABORT TASK SET, LUN
// and target resets and a reconnect. The test then polls with TEST UNIT READY,
// sleeping a minute after each failure: the first finds the SANITIZE still running,
// the second the unit attention of the test's own resets (reported once the medium
// is ready: sanitize.go in actors/scsidev), so it takes two minutes, mostly asleep,
// and runs in parallel with TestFullSuite.
func TestFullSuiteSanitizeReset(t *testing.T) {
	t.Parallel()
	cu := requireLibiscsi(t, "iscsi-test-cu")
	// The LUN lives in memory (tmpfs, /dev/shm): on the test's disk the SANITIZE,
	// slowed by TestFullSuite's writes beside it, once ran past the second poll, which
	// cost another sleep(60).
	shm, err := os.MkdirTemp("/dev/shm", "atgt-sanitize-reset-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(shm) })
	// atgtd creates no file under /dev: the file is made here, sparse.
	lunPath := filepath.Join(shm, "lun.img")
	makeSparse(t, lunPath, 64<<20, 0o600)
	r := fullSuiteRun{name: "sanitize-reset", variants: []string{"all", "writable", "sanitize"}, paths: 1, size: 64 << 20,
		args: []string{"--allow-sanitize"}, families: []string{"SCSI.Sanitize.Reset"}, timeout: 5 * time.Minute,
		lun: func(l *testLun) {
			l.Provisioning, l.AllowSanitize, l.SanitizeBytesPerSecond = "thin", true, strconv.Itoa(8<<20)
			l.Path = lunPath
		}}
	passed, skipped := r.do(t, cu, expectedSkips(t))
	if passed != 1 || skipped != 0 {
		t.Errorf("SCSI.Sanitize.Reset: %d passed, %d skipped; want 1 passed", passed, skipped)
	}
}

// fullSuiteRun is one iscsi-test-cu run of TestFullSuite: its LUN, its families and
// the expected-skips variants that apply.
type fullSuiteRun struct {
	name     string   // a variant name in expected-skips.txt
	variants []string // the skip lists that apply
	families []string
	paths    int
	lun      func(*testLun)
	size     int64         // LUN size; 0 means 1 GiB
	args     []string      // extra iscsi-test-cu arguments
	timeout  time.Duration // per iscsi-test-cu run; 0 means cuRunTimeout
}

// do starts atgtd with the run's LUN and runs each family against it, returning how
// many tests passed and how many skipped as listed.
func (r fullSuiteRun) do(t *testing.T, cu string, skips map[string]map[string]string) (passed, skipped int) {
	size := r.size
	if size == 0 {
		size = 1 << 30
	}
	cfg := oneLunConfig(t, size, cuInitiator1, cuInitiator2)
	lun := &cfg.Targets[0].Luns[0]
	r.lun(lun)
	if lun.ReadOnly {
		// A read-only LUN is not created: make its file first.
		makeSparse(t, lun.Path, 64<<20, 0o644)
		lun.SizeBytes = "0"
	}
	d := startDaemonConfig(t, cfg)
	for _, fam := range r.families {
		var urls []string
		for range r.paths {
			urls = append(urls, d.url(defaultIQN, testLUN))
		}
		timeout := r.timeout
		if timeout == 0 {
			timeout = cuRunTimeout
		}
		res := runCU(t, cu, timeout, r.name, fam, r.args, urls, skips, r.variants)
		passed += len(res.Passed)
		skipped += len(res.Skipped)
	}
	if !d.alive() {
		t.Errorf("atgtd died: %v", d.err)
	}
	return passed, skipped
}
