//go:build ceph

package tests

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/atgt/atgt/messages/scsi"
	"github.com/atgt/atgt/tests/cephtest"
	"github.com/atgt/atgt/tests/initiator"
)

// The RBD tests run against a one-node Ceph cluster (tests/cephtest: shared with
// make test through $ATGT_CEPH_DIR, else started here and stopped after the tests),
// with atgtd built with the ceph tag.
func init() {
	daemonTags = append(daemonTags, "ceph")
	atExit = append(atExit, cephtest.StopShared)
}

// rbdLunConfig is oneLunConfig with an RBD image of size bytes as the LUN.
func rbdLunConfig(t *testing.T, size int64, initiators ...string) (testConfig, *cephtest.Cluster, string) {
	t.Helper()
	c := cephtest.Shared(t)
	image := c.Image(t, size)
	cfg := oneLunConfig(t, size, initiators...)
	l := &cfg.Targets[0].Luns[0]
	l.Path, l.SizeBytes, l.Workers = "", "", 0
	l.Backend = "rbd"
	l.Rbd = &testRbd{Image: image, CephConf: c.Conf}
	return cfg, c, image
}

// TestRBDFullSuite runs libiscsi's SCSI and iSCSI families against a 1 GiB RBD LUN,
// and the multipath tests with two sessions to it, with the file LUN's expectations:
// no FAILED test, a verdict for every test, and only the skips
// testdata/expected-skips.txt lists for a thin single-path LUN.
func TestRBDFullSuite(t *testing.T) {
	cu := requireLibiscsi(t, "iscsi-test-cu")
	skips := expectedSkips(t)
	runs := []struct {
		name     string
		variants []string
		families []string
		paths    int
	}{
		{"thin", []string{"all", "writable", "thin", "single-path", "no-sanitize"}, []string{"SCSI", "iSCSI"}, 1},
		{"multipath", []string{"all", "writable", "no-sanitize"}, []string{"SCSI.MultipathIO"}, 2},
	}
	cfg, _, _ := rbdLunConfig(t, 1<<30, cuInitiator1, cuInitiator2)
	d := startDaemonConfig(t, cfg)
	var passed int
	for _, r := range runs {
		t.Run(r.name, func(t *testing.T) {
			for _, fam := range r.families {
				var urls []string
				for range r.paths {
					urls = append(urls, d.url(defaultIQN, testLUN))
				}
				res := runCU(t, cu, 2*cuRunTimeout, r.name, fam, nil, urls, skips, r.variants)
				passed += len(res.Passed)
			}
		})
	}
	if !d.alive() {
		t.Errorf("atgtd died: %v", d.err)
	}
	t.Logf("%d passed", passed)
}

// TestRBDCapacityChanged: an image grown with `rbd resize` while a session is logged
// in reaches that session as CAPACITY DATA HAS CHANGED, and READ CAPACITY then
// reports the new size; data written before the growth and past the old end reads
// back.
func TestRBDCapacityChanged(t *testing.T) {
	const before, after = 64 << 20, 96 << 20
	cfg, c, image := rbdLunConfig(t, before)
	d := startDaemonConfig(t, cfg)
	s, err := initiator.Dial(d.addr, initiator.Options{InitiatorName: "iqn.2026-11.dev.atgt:rbd-watcher", TargetName: defaultIQN,
		Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	clearUA(t, s, uint64(testLUN))
	lun := uint64(testLUN)
	if blocks, _, err := s.ReadCapacity16(lun); err != nil || blocks != before/512 {
		t.Fatalf("READ CAPACITY(16) before: %d, %v", blocks, err)
	}
	data := []byte(strings.Repeat("rbd!", 128))
	if err := s.Write(lun, 7, data, 512, true); err != nil {
		t.Fatal(err)
	}
	c.Resize(t, image, after)
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := s.TestUnitReady(lun)
		var se *initiator.SCSIError
		if errors.As(err, &se) && se.Key() == scsi.SenseUnitAttention && se.ASC() == 0x2A && se.ASCQ() == 0x09 {
			break
		}
		if err != nil {
			t.Fatalf("TEST UNIT READY after rbd resize: %v, want GOOD or UNIT ATTENTION 2A/09", err)
		}
		if time.Now().After(deadline) {
			t.Fatal("no CAPACITY DATA HAS CHANGED within 15 s of rbd resize")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if blocks, _, err := s.ReadCapacity16(lun); err != nil || blocks != after/512 {
		t.Fatalf("READ CAPACITY(16) after: %d, %v, want %d blocks", blocks, err, after/512)
	}
	last := uint64(after/512 - 1)
	if err := s.Write(lun, last, data, 512, false); err != nil {
		t.Fatalf("WRITE past the old end: %v", err)
	}
	for _, lba := range []uint64{7, last} {
		got, err := s.Read(lun, lba, 1, 512)
		if err != nil || string(got) != string(data) {
			t.Fatalf("READ lba %d: %v, data differs: %v", lba, err, string(got) != string(data))
		}
	}
}
