package lun

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/atgt/atgt/actors/reservation"
	"github.com/atgt/atgt/actors/scsidev"
	"github.com/atgt/atgt/backend"
	"github.com/atgt/atgt/backend/faults"
	"github.com/atgt/atgt/messages/scsi"
)

// switchLock is a lock whose owner the test decides.
type switchLock struct{ owner atomic.Bool }

func (s *switchLock) IsLockOwner() (bool, error) { return s.owner.Load(), nil }

// TestGroupStates: the states each node reports for an owner's group, on three
// groups: exactly one active/optimized group when the owner is known, whichever node
// reports; with none known, the other groups (today's two-node answer).
func TestGroupStates(t *testing.T) {
	const O, N = scsidev.ActiveOptimized, scsidev.ActiveNonOptimized
	for _, c := range []struct {
		local, owner uint16
		want         [3]scsidev.AccessState // groups 1, 2, 3
	}{
		{2, 2, [3]scsidev.AccessState{N, O, N}}, // the owner itself
		{1, 2, [3]scsidev.AccessState{N, O, N}}, // a non-owner that knows the owner
		{3, 2, [3]scsidev.AccessState{N, O, N}},
		{3, 1, [3]scsidev.AccessState{O, N, N}},
		{2, 0, [3]scsidev.AccessState{O, N, O}}, // no owner known
		{2, 7, [3]scsidev.AccessState{O, N, O}}, // a group not configured: unknown
	} {
		a := &ALUA{Local: c.local, Groups: []uint16{1, 2, 3}}
		got := a.GroupStates(c.owner)
		if [3]scsidev.AccessState{got[1], got[2], got[3]} != c.want || len(got) != 3 {
			t.Errorf("local %d owner %d: %v, want %v", c.local, c.owner, got, c.want)
		}
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
		return h.rtpg(t, itt)
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

// switchOwner is a locator whose answer the test decides.
type switchOwner struct{ group atomic.Uint32 }

func (s *switchOwner) OwnerGroup() (uint16, error) { return uint16(s.group.Load()), nil }

// TestALUAFollowsOwnerGroup: with a locator, a node of three groups reports exactly
// one active/optimized group, the owner's, wherever the lock is, and raises
// ASYMMETRIC ACCESS STATE CHANGED at each move.
func TestALUAFollowsOwnerGroup(t *testing.T) {
	loc := &switchOwner{}
	dev := scsidev.New(scsidev.Config{BlockSize: 512, Blocks: 2048, WriteCache: true, TargetName: "t",
		PortGroups: []uint16{1, 2, 3}, TargetPortGroup: 1, RelativePortID: 1})
	h := newLUNHarness(t, backend.NewMemory(1<<20), func(c *Config) {
		c.Device = dev
		c.ALUA = &ALUA{Local: 1, Groups: []uint16{1, 2, 3}, Owner: &switchLock{}, Locate: loc,
			Poll: 5 * time.Millisecond, Hold: 20 * time.Millisecond}
	})
	defer h.sys.Shutdown()
	itt := uint32(0)
	states := func() string {
		itt++
		out := ""
		for p := h.rtpg(t, itt)[4:]; len(p) >= 12; p = p[12:] {
			out += map[byte]string{0: "O", 1: "N"}[p[0]&0x0F]
		}
		return out
	}
	await := func(want string) {
		deadline := time.Now().Add(5 * time.Second)
		sawUA := false
		for time.Now().Before(deadline) {
			itt++
			h.send(h.task(itt, make([]byte, 6), nil))
			if m := h.wait(1)[itt]; m.Status == uint32(scsi.StatusCheckCondition) {
				if m.Sense[12] != 0x2A || m.Sense[13] != 0x06 {
					t.Fatalf("sense % x", m.Sense[:14])
				}
				sawUA = true
			}
			if sawUA && states() == want {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
		t.Fatalf("states %s (unit attention %v), want %s", states(), sawUA, want)
	}
	if got := states(); got != "NOO" {
		t.Fatalf("no owner known: %s", got)
	}
	for _, st := range []struct {
		owner uint16
		want  string
	}{{3, "NNO"}, {1, "ONN"}, {2, "NON"}, {0, "NOO"}} {
		loc.group.Store(uint32(st.owner))
		await(st.want)
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
		owner uint16
		apply bool
	}{
		{0, 0, false},   // as started: no owner known
		{1, 2, false},   // group 2 took the lock
		{2, 3, false},   // moved to 3
		{3, 2, false},   // and back
		{5.8, 2, false}, // held 2.8 s
		{5.9, 2, true},  // 2.9 s: 3 s less the slack for late polls, follow
		{7, 2, false},   // nothing new
		{8, 1, false},   // moved to 1
		{9, 0, false},   // free a while (a handover)
		{9.5, 1, false}, // 1 again: the hold starts over
		{12.3, 1, false},
		{12.5, 1, true},
		{13, 0, false}, // free
		{16, 0, true},  // for the hold: no owner known
	}
	for _, st := range steps {
		if got := f.observe(st.owner, at(st.s)); got != st.apply {
			t.Fatalf("at %vs owner %v: apply %v, want %v", st.s, st.owner, got, st.apply)
		}
	}
}

// rtpg sends REPORT TARGET PORT GROUPS as task itt and returns its data.
func (h *lunHarness) rtpg(t *testing.T, itt uint32) []byte {
	t.Helper()
	c := make([]byte, 12)
	c[0], c[1] = scsi.OpMaintenanceIn, scsi.SAReportTargetPortGroups
	binary.BigEndian.PutUint32(c[6:10], 64)
	for range 10 {
		h.send(h.task(itt, c, nil))
		m := h.wait(1)[itt]
		if m.Status == uint32(scsi.StatusGood) {
			return m.DataIn
		}
		// A state change the lock follower applied after the caller cleared the
		// unit attentions is reported here first (06/2A/06); ask again.
		if m.Status != uint32(scsi.StatusCheckCondition) || len(m.Sense) < 14 || m.Sense[2]&0x0f != 6 {
			t.Fatalf("RTPG status %d sense %x", m.Status, m.Sense)
		}
	}
	t.Fatalf("RTPG: a unit attention every time")
	return nil
}

// TestFencedOff: a look at the lock that fails because the cluster fenced the node
// off is no warning (the fence has its own); any other failure is.
func TestFencedOff(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{&fs.PathError{Op: "lock owner", Path: "rbd:rbd/vm1", Err: syscall.ESHUTDOWN}, true},
		{fmt.Errorf("lock owner: %w", backend.ErrFenced), true},
		{&fs.PathError{Op: "lock owner", Path: "rbd:rbd/vm1", Err: syscall.EIO}, false},
		{errors.New("timed out"), false},
	} {
		if got := fencedOff(c.err); got != c.want {
			t.Errorf("%v: %v, want %v", c.err, got, c.want)
		}
	}
}

// TestALUAAfterLUNPanic: a LUN actor that fails and rebuilds its device model keeps
// reporting the states the lock follower had applied (here: this node the owner,
// the other group non-optimized), not every group active/optimized.
func TestALUAAfterLUNPanic(t *testing.T) {
	lock := &switchLock{}
	lock.owner.Store(true)
	devCfg := scsidev.Config{BlockSize: 512, Blocks: 2048, WriteCache: true, TargetName: "t",
		PortGroups: []uint16{1, 2}, TargetPortGroup: 1, RelativePortID: 1}
	inj := faults.New(nil, nil)
	h := newLUNHarness(t, backend.NewMemory(1<<20), func(c *Config) {
		c.Device = scsidev.New(devCfg)
		c.ALUA = &ALUA{Local: 1, Groups: []uint16{1, 2}, Owner: lock, Poll: 5 * time.Millisecond, Hold: 20 * time.Millisecond}
		c.Faults = inj
		c.Rebuild = func() (*scsidev.Device, *reservation.Table, error) {
			return scsidev.New(devCfg), reservation.New(), nil
		}
	})
	defer h.sys.Shutdown()
	itt := uint32(0)
	// states clears the pending unit attentions, then reads both groups' states.
	states := func() (byte, byte) {
		for range 10 {
			itt++
			h.send(h.task(itt, make([]byte, 6), nil))
			if h.wait(1)[itt].Status == uint32(scsi.StatusGood) {
				break
			}
		}
		itt++
		d := h.rtpg(t, itt)
		return d[4] & 0x0F, d[16] & 0x0F
	}
	opt, non := byte(scsidev.ActiveOptimized), byte(scsidev.ActiveNonOptimized)
	deadline := time.Now().Add(5 * time.Second)
	for g1, g2 := states(); g1 != opt || g2 != non; g1, g2 = states() {
		if time.Now().After(deadline) {
			t.Fatalf("owner: groups %x %x", g1, g2)
		}
		time.Sleep(5 * time.Millisecond)
	}
	inj.Set([]faults.Fault{{Op: faults.Sync, Kind: faults.LUNPanic, Probability: 1}})
	itt++
	h.send(h.task(itt, []byte{scsi.OpSynchronizeCache10, 0, 0, 0, 0, 0, 0, 0, 0, 0}, nil))
	h.wait(1) // answered (CHECK CONDITION) by the failed actor
	inj.Set(nil)
	if g1, g2 := states(); g1 != opt || g2 != non {
		t.Fatalf("after the LUN actor failed: groups %x %x, want %x %x", g1, g2, opt, non)
	}
}
