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
		c.ALUA = &ALUA{Local: 1, Groups: []uint16{1, 2}, Owner: lock, Poll: 5 * time.Millisecond, Hold: 20 * time.Millisecond}
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

// TestLockFollowerHolds: the states follow the lock only once it stayed put for the
// hold time; a lock that moves back and forth faster changes nothing.
func TestLockFollowerHolds(t *testing.T) {
	f := lockFollower{hold: 3 * time.Second}
	t0 := time.Unix(1000, 0)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	steps := []struct {
		s     float64
		owner bool
		apply bool
	}{
		{0, false, false},  // as started: not the owner
		{1, true, false},   // lock taken
		{2, false, false},  // moved away again
		{3, true, false},   // and back
		{5.9, true, false}, // held 2.9 s
		{6, true, true},    // held 3 s: follow
		{7, true, false},   // nothing new
		{8, false, false},  // lost
		{11.5, false, true},
	}
	for _, st := range steps {
		if got := f.observe(st.owner, at(st.s)); got != st.apply {
			t.Fatalf("at %vs owner %v: apply %v, want %v", st.s, st.owner, got, st.apply)
		}
	}
}
