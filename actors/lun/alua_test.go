package lun

import (
	"encoding/binary"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atgt/atgt/actors/scsidev"
	"github.com/atgt/atgt/backend"
	"github.com/atgt/atgt/messages/scsi"
)

// switchLock is a lock whose owner the test decides.
type switchLock struct{ owner atomic.Bool }

func (s *switchLock) IsLockOwner() (bool, error) { return s.owner.Load(), nil }

func TestGroupStates(t *testing.T) {
	a := &ALUA{Local: 2, Groups: []uint16{1, 2, 3}}
	owner := a.GroupStates(true)
	if owner[2] != scsidev.ActiveOptimized || owner[1] != scsidev.ActiveNonOptimized || owner[3] != scsidev.ActiveNonOptimized {
		t.Fatalf("owner: %v", owner)
	}
	other := a.GroupStates(false)
	if other[2] != scsidev.ActiveNonOptimized || other[1] != scsidev.ActiveOptimized || other[3] != scsidev.ActiveOptimized {
		t.Fatalf("not owner: %v", other)
	}
}

// TestALUAFollowsLock checks that the LUN reports the group of the node holding the
// backend's lock active/optimized, with ASYMMETRIC ACCESS STATE CHANGED after each
// move of the lock, and that IO is served in either state.
func TestALUAFollowsLock(t *testing.T) {
	lock := &switchLock{}
	dev := scsidev.New(scsidev.Config{BlockSize: 512, Blocks: 2048, WriteCache: true, TargetName: "t",
		PortGroups: []uint16{1, 2}, TargetPortGroup: 1, RelativePortID: 1})
	h := newLUNHarness(t, backend.NewMemory(1<<20), func(c *Config) {
		c.Device = dev
		c.ALUA = &ALUA{Local: 1, Groups: []uint16{1, 2}, Owner: lock, Poll: 5 * time.Millisecond}
	})
	defer h.sys.Shutdown()
	itt := uint32(0)
	rtpg := func() []byte {
		itt++
		c := make([]byte, 12)
		c[0], c[1] = scsi.OpMaintenanceIn, scsi.SAReportTargetPortGroups
		binary.BigEndian.PutUint32(c[6:10], 64)
		h.send(h.task(itt, c, nil))
		m := h.wait(1)[itt]
		if m.Status != uint32(scsi.StatusGood) {
			t.Fatalf("RTPG status %d", m.Status)
		}
		return m.DataIn
	}
	// awaitUA sends TEST UNIT READY until the state change's unit attention comes.
	awaitUA := func(why string) {
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			itt++
			h.send(h.task(itt, make([]byte, 6), nil))
			m := h.wait(1)[itt]
			if m.Status == uint32(scsi.StatusCheckCondition) {
				if m.Sense[2]&0x0F != scsi.SenseUnitAttention || m.Sense[12] != 0x2A || m.Sense[13] != 0x06 {
					t.Fatalf("%s: sense % x", why, m.Sense[:14])
				}
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
		t.Fatalf("%s: no ASYMMETRIC ACCESS STATE CHANGED", why)
	}
	states := func(d []byte) (byte, byte) { return d[4] & 0x0F, d[16] & 0x0F }
	if g1, g2 := states(rtpg()); g1 != byte(scsidev.ActiveNonOptimized) || g2 != byte(scsidev.ActiveOptimized) {
		t.Fatalf("before the lock: groups %x %x", g1, g2)
	}
	// A write is served while not the owner (librbd would move the lock here).
	itt++
	h.send(h.task(itt, write10(8, 1, false), make([]byte, 512)))
	if m := h.wait(1)[itt]; m.Status != uint32(scsi.StatusGood) {
		t.Fatalf("write as non-optimized: status %d", m.Status)
	}
	lock.owner.Store(true)
	awaitUA("lock taken")
	if g1, g2 := states(rtpg()); g1 != byte(scsidev.ActiveOptimized) || g2 != byte(scsidev.ActiveNonOptimized) {
		t.Fatalf("lock owner: groups %x %x", g1, g2)
	}
	lock.owner.Store(false)
	awaitUA("lock lost")
	if g1, g2 := states(rtpg()); g1 != byte(scsidev.ActiveNonOptimized) || g2 != byte(scsidev.ActiveOptimized) {
		t.Fatalf("lock lost: groups %x %x", g1, g2)
	}
}
