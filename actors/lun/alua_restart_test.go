package lun

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/atgt/atgt/actors/scsidev"
	"github.com/atgt/atgt/backend"
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/scsi"
)

// rtpgStates is RTPG's states through h, one letter per group (O, N, U), and each
// group's STATUS CODE, after a TEST UNIT READY and an RTPG that take a pending unit
// attention (the states' change) first (a node that may not serve refuses TEST
// UNIT READY without reporting it; RTPG runs there).
func rtpgStates(t *testing.T, h *lunHarness, itt uint32) (states string, status []byte) {
	h.send(h.task(itt+1<<20, make([]byte, 6), nil))
	h.wait(1)
	c := make([]byte, 12)
	c[0], c[1], c[9] = scsi.OpMaintenanceIn, scsi.SAReportTargetPortGroups, 64
	h.send(h.task(itt+2<<20, c, nil))
	h.wait(1)
	for p := h.rtpg(t, itt)[4:]; len(p) >= 12; p = p[12:] {
		states += map[byte]string{0: "O", 1: "N", 3: "U"}[p[0]&0x0F]
		status = append(status, p[5])
	}
	return states, status
}

// TestALUARestartShowsOwnerAtOnce: a node (group 1 of 3) starts while group 3's
// node holds the lock, and its locator says so at the first look: the states show
// the owner at once, not two active/optimized groups for the whole hold; and the
// start is no transition (STATUS CODE 00h in every descriptor).
func TestALUARestartShowsOwnerAtOnce(t *testing.T) {
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
	states, status := rtpgStates(t, h, 1)
	if states != "NNO" {
		t.Fatalf("300 ms after start, owner known to be group 3: states %s, want NNO", states)
	}
	if string(status) != "\x00\x02\x00" {
		t.Fatalf("status codes % x, want 00 02 00 (only group 2 changed since the start guess NOO)", status)
	}
}

// TestALUAStartNoStatusCode: the start's guess is the first state, not an implicit
// transition: STATUS CODE 00h while no look has answered yet.
func TestALUAStartNoStatusCode(t *testing.T) {
	loc := &blockingOwner{release: make(chan struct{})}
	defer close(loc.release)
	dev := scsidev.New(scsidev.Config{BlockSize: 512, Blocks: 2048, WriteCache: true, TargetName: "t",
		PortGroups: []uint16{1, 2}, TargetPortGroup: 1, RelativePortID: 1})
	h := newLUNHarness(t, backend.NewMemory(1<<20), func(c *Config) {
		c.Device = dev
		c.ALUA = &ALUA{Local: 1, Groups: []uint16{1, 2}, Owner: &switchLock{}, Locate: loc,
			Poll: 5 * time.Millisecond, Hold: time.Second, Stale: time.Hour}
	})
	defer h.sys.Shutdown()
	time.Sleep(50 * time.Millisecond)
	states, status := rtpgStates(t, h, 1)
	if states != "NO" || string(status) != "\x00\x00" {
		t.Fatalf("at start: states %s, status codes % x; want NO, 00 00", states, status)
	}
}

// blockingOwner is a locator cut off from the cluster: its looks block until
// released, or answer group while not blocked.
type blockingOwner struct {
	release chan struct{}
	blocked atomic.Bool
	group   uint16
}

func (b *blockingOwner) OwnerGroup() (uint16, error) {
	if b.blocked.Load() || b.group == 0 {
		<-b.release
	}
	return b.group, nil
}

// TestALUACutOffStopsClaiming: the lock's owner (group 1) cut off from the cluster
// (its looks block) stops reporting itself active/optimized once no look succeeded
// for Stale: it reports its group unavailable (the other as it was: it does not
// guess), REPORT TARGET PORT GROUPS still runs, and TEST UNIT READY and READ are
// answered NOT READY, TARGET PORT IN UNAVAILABLE STATE (04/0C), which initiators
// fail over at once (04/01 they retry on the same path); a look that answers
// again ends it.
func TestALUACutOffStopsClaiming(t *testing.T) {
	loc := &blockingOwner{release: make(chan struct{}), group: 1}
	dev := scsidev.New(scsidev.Config{BlockSize: 512, Blocks: 2048, WriteCache: true, TargetName: "t",
		PortGroups: []uint16{1, 2}, TargetPortGroup: 1, RelativePortID: 1})
	h := newLUNHarness(t, backend.NewMemory(1<<20), func(c *Config) {
		c.Device = dev
		c.ALUA = &ALUA{Local: 1, Groups: []uint16{1, 2}, Owner: &switchLock{}, Locate: loc,
			Poll: 5 * time.Millisecond, Hold: 20 * time.Millisecond, Stale: 100 * time.Millisecond}
	})
	defer h.sys.Shutdown()
	itt := uint32(0)
	run := func(cdb []byte) *pb.ScsiCompletion {
		itt++
		h.send(h.task(itt, cdb, nil))
		return h.wait(1)[itt]
	}
	tur := func() uint32 { return run(make([]byte, 6)).Status } // TEST UNIT READY
	time.Sleep(50 * time.Millisecond)
	if itt++; func() string { s, _ := rtpgStates(t, h, itt); return s }() != "ON" {
		t.Fatal("owner not shown active/optimized")
	}
	loc.blocked.Store(true)
	time.Sleep(300 * time.Millisecond)
	expectCheck(t, "TEST UNIT READY cut off", run(make([]byte, 6)), scsi.SenseNotReady, 0x04, 0x0C)
	expectCheck(t, "READ cut off", run(read10(0, 8)), scsi.SenseNotReady, 0x04, 0x0C)
	itt++
	if s, _ := rtpgStates(t, h, itt); s != "UN" {
		t.Fatalf("cut off: states %s, want UN (this node unavailable, the other as it was)", s)
	}
	loc.blocked.Store(false)
	loc.release <- struct{}{}
	time.Sleep(50 * time.Millisecond)
	// The first answer may be the unit attention of the states' changes.
	if st := tur(); st != uint32(scsi.StatusGood) && tur() != uint32(scsi.StatusGood) {
		t.Fatalf("cluster back: TEST UNIT READY status %d", st)
	}
	itt++
	if s, status := rtpgStates(t, h, itt); s != "ON" || status[0] != 0x02 {
		t.Fatalf("cluster back: states %s, status codes % x; want ON, own group altered", s, status)
	}
}
