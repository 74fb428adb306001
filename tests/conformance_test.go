package tests

import (
	"strings"
	"testing"
	"time"
)

// conformanceFamilies are the iscsi-test-cu selections (-t) that atgt must pass.
var conformanceFamilies = []string{
	"SCSI.TestUnitReady",
	"SCSI.Inquiry",
	"SCSI.Mandatory",
	"SCSI.ReadCapacity10",
	"SCSI.ReadCapacity16",
	"SCSI.Read6",
	"SCSI.Read10",
	"SCSI.Read12",
	"SCSI.Read16",
	"SCSI.Write10",
	"SCSI.Write12",
	"SCSI.Write16",
	"SCSI.ModeSense6",
	"SCSI.Verify10",
	"SCSI.Verify16",
	"iSCSI.iSCSIResiduals",
	"iSCSI.iSCSIcmdsn",
	"iSCSI.iSCSIdatasn",
	// Two sessions to one LUN (two URLs): I/O, LUN reset unit attentions on both paths,
	// COMPARE AND WRITE.
	"SCSI.MultipathIO",
}

// cuRunTimeout bounds one iscsi-test-cu run.
const cuRunTimeout = 3 * time.Minute

// TestConformance runs libiscsi's iscsi-test-cu, one subtest per suite, each against
// its own freshly started atgtd (1 GiB LUN; ACL listing both initiator names the suite
// uses), so that one suite's leftovers or a crash cannot spoil the next. A subtest
// fails on whatever cuProblems finds (a non-zero exit or timeout, a suite that did not
// set up, a selected test that did not run, a FAILED test or one without a verdict, a
// Run Summary that disagrees, a skip testdata/expected-skips.txt does not list for a
// thin writable LUN) and when the daemon dies.
func TestConformance(t *testing.T) {
	cu := requireLibiscsi(t, "iscsi-test-cu")
	skips := expectedSkips(t)
	var total CUResults
	for _, fam := range conformanceFamilies {
		t.Run(fam, func(t *testing.T) {
			d := startDaemonConfig(t, oneLunConfig(t, 1<<30, cuInitiator1, cuInitiator2))
			urls := []string{d.url(defaultIQN, testLUN)}
			variants := []string{"all", "writable", "thin", "no-sanitize"}
			if strings.HasPrefix(fam, "SCSI.MultipathIO") {
				urls = append(urls, d.url(defaultIQN, testLUN))
			} else {
				variants = append(variants, "single-path")
			}
			r := runCU(t, cu, cuRunTimeout, "conformance", fam, nil, urls, skips, variants)
			total.Passed = append(total.Passed, r.Passed...)
			total.Failed = append(total.Failed, r.Failed...)
			total.Skipped = append(total.Skipped, r.Skipped...)
			if !d.alive() {
				t.Errorf("atgtd died during %s: %v", fam, d.err)
			}
		})
	}
	t.Logf("all suites: %v", &total)
}
