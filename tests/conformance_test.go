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
// fails on any FAILED test, on a test without a verdict, when no test ran, or when the
// daemon dies; skipped tests are only logged.
func TestConformance(t *testing.T) {
	cu := requireLibiscsi(t, "iscsi-test-cu")
	var total CUResults
	for _, fam := range conformanceFamilies {
		t.Run(fam, func(t *testing.T) {
			d := startDaemonConfig(t, oneLunConfig(t, 1<<30, cuInitiator1, cuInitiator2))
			args := []string{"-d", "-v", "-t", fam, d.url(defaultIQN, testLUN)}
			if strings.HasPrefix(fam, "SCSI.MultipathIO") {
				args = append(args, d.url(defaultIQN, testLUN))
			}
			out, err := runTool(t, cuRunTimeout, cu, args...)
			r, perr := ParseCUnit(strings.NewReader(out))
			if perr != nil {
				t.Fatalf("parsing iscsi-test-cu output: %v", perr)
			}
			t.Logf("%s: %v", fam, r)
			total.Passed = append(total.Passed, r.Passed...)
			total.Failed = append(total.Failed, r.Failed...)
			total.Skipped = append(total.Skipped, r.Skipped...)
			if len(r.Skipped) > 0 {
				t.Logf("skipped: %s", strings.Join(r.Skipped, ", "))
			}
			if r.Count() == 0 {
				t.Errorf("iscsi-test-cu ran no test of %s (exit: %v)", fam, err)
			}
			if len(r.Failed) > 0 {
				t.Errorf("FAILED: %s", strings.Join(r.Failed, ", "))
			}
			if len(r.Unfinished) > 0 {
				t.Errorf("no verdict (tool crashed, timed out or lost the target): %s", strings.Join(r.Unfinished, ", "))
			}
			if !d.alive() {
				t.Errorf("atgtd died during %s: %v", fam, d.err)
			}
			if t.Failed() {
				t.Logf("iscsi-test-cu output:\n%s", out)
			}
		})
	}
	t.Logf("all suites: %v", &total)
}
