package tests

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/atgt/atgt/tests/initiator"
)

// TestFinishedIOLeavesNothingLive: write data of commands that have ended is not
// kept. 300 WRITE AND VERIFY(16) of 512 KiB (150 MiB; their data is not in the
// pooled buffers plain WRITEs use) on one LUN, then a logout: the live heap must come
// back to about where it was. Before, each LUN's IO queue kept its last 1024 requests
// in its ring, and with them their tasks, their connections' task chunks and this
// data (scale review 1: +520 MiB for 1100 such writes on an idle LUN).
func TestFinishedIOLeavesNothingLive(t *testing.T) {
	const size, count = 512 << 10, 300
	cfg := boundsLunConfig(t, 64<<20)
	cfg.GcPercent = 100
	pprof := freeLoopbackAddr(t)
	d := startDaemonConfig(t, cfg, "-pprof", pprof)
	s, err := initiator.Dial(d.addr, initiator.Options{InitiatorName: "iqn.2026-11.dev.atgt:ring", TargetName: defaultIQN,
		Timeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := readPastUA(s); err != nil {
		t.Fatal(err)
	}
	liveMemOf(t, pprof)
	base := liveMemOf(t, pprof)
	data := make([]byte, size)
	cdb := make([]byte, 16)
	cdb[0] = 0x8e // WRITE AND VERIFY(16), BYTCHK 0
	binary.BigEndian.PutUint32(cdb[10:], size/512)
	for i := range count {
		binary.BigEndian.PutUint64(cdb[2:], uint64(i%64)*(size/512))
		r, err := s.Command(uint64(testLUN), cdb, data, 0)
		if err != nil || r.Status != 0 {
			t.Fatalf("WRITE AND VERIFY %d: %v %+v", i, err, r)
		}
	}
	if err := s.Logout(); err != nil {
		t.Fatal(err)
	}
	// The session's actors stop asynchronously after the logout.
	deadline := time.Now().Add(10 * time.Second)
	var grow float64
	for {
		grow = (liveMemOf(t, pprof).KiB() - base.KiB()) / 1024
		if grow < 16 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("%d WRITE AND VERIFY(16) of %d KiB, then logout: live heap %+.1f MiB", count, size>>10, grow)
	if grow >= 16 {
		t.Fatalf("%.1f MiB stays live on an idle LUN after %d MiB written and the session ended", grow, count*size>>20)
	}
}
