package tests

import (
	"os"
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
		// A SANITIZE slowed to 8 MiB/s (8 s for the LUN) must go on through ABORT TASK,
		// ABORT TASK SET, LUN and target resets and a reconnect; the test then polls
		// once a minute until it is done.
		{name: "sanitize-reset", variants: []string{"all", "writable", "sanitize"}, paths: 1, size: 64 << 20,
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
		})
	}
	t.Logf("all runs: %d passed, %d skipped (as listed)", passed, skipped)
}
