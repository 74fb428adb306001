package lun

import (
	"testing"
	"time"

	"github.com/atgt/atgt/actors/scsidev"
	"github.com/atgt/atgt/backend"
)

// TestReviewRestartShowsTwoOptimized: a node (group 1 of 3) starts while group 3's
// node holds the lock, and its locator says so at the first look. For the whole
// hold, RTPG through it shows groups 2 and 3 both active/optimized although the
// owner is known to be 3 (reopenDone applies a known owner at once, startALUA
// does not).
func TestReviewRestartShowsTwoOptimized(t *testing.T) {
	loc := &switchOwner{}
	loc.group.Store(3)
	dev := scsidev.New(scsidev.Config{BlockSize: 512, Blocks: 2048, WriteCache: true, TargetName: "t",
		PortGroups: []uint16{1, 2, 3}, TargetPortGroup: 1, RelativePortID: 1})
	h := newLUNHarness(t, backend.NewMemory(1<<20), func(c *Config) {
		c.Device = dev
		c.ALUA = &ALUA{Local: 1, Groups: []uint16{1, 2, 3}, Owner: &switchLock{}, Locate: loc,
			Poll: 5 * time.Millisecond, Hold: 2 * time.Second}
	})
	defer h.sys.Shutdown()
	time.Sleep(300 * time.Millisecond) // 60 looks, all saying group 3
	out := ""
	for p := h.rtpg(t, 1)[4:]; len(p) >= 12; p = p[12:] {
		out += map[byte]string{0: "O", 1: "N"}[p[0]&0x0F]
	}
	if out != "NNO" {
		t.Fatalf("300 ms after start, owner known to be group 3: states %s, want NNO", out)
	}
}
