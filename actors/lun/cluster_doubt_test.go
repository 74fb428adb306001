package lun

import (
	"bytes"
	"testing"
	"time"

	"github.com/atgt/atgt/actors/prcluster"
	"github.com/atgt/atgt/actors/scsidev"
	"github.com/atgt/atgt/backend"
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/scsi"
)

// withLeasedStore is withClusterStore with a short staleness bound, and gives
// the store to the test.
func withLeasedStore(t *testing.T, obj *prcluster.MemObject, port uint16, every, stale time.Duration) (*prcluster.Store, func(*Config)) {
	s, err := prcluster.Open(obj.Handle(), port, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.SetLease(every, stale)
	t.Cleanup(s.Close)
	return s, func(c *Config) { c.ClusterPR, c.Reservations = s, s.Cache() }
}

// waitDoubt waits until the store's doubt is want, and then a little for the
// LUN to have its Update.
func waitDoubt(t *testing.T, s *prcluster.Store, want bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for s.InDoubt() != want {
		if time.Now().After(deadline) {
			t.Fatalf("store doubt never became %v", want)
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
}

// A node that may have missed a reservation change (its watch lost and the
// object unreadable) answers commands that touch the medium NOT READY, 04/01,
// which initiators retry, whatever its cache says; INQUIRY still runs. Once
// it has reread the object it admits commands again.
func TestClusterDoubtRefusesCommands(t *testing.T) {
	obj := prcluster.NewMemObject()
	s, opt := withLeasedStore(t, obj, 1, 50*time.Millisecond, 300*time.Millisecond)
	a := newLUNHarness(t, backend.NewMemory(1<<20), opt)
	a.send(a.task(1, write10(8, 8, false), bytes.Repeat([]byte{1}, 4096)))
	expectGood(t, "WRITE before", a.wait(1)[1])

	obj.SetUnreadable(true)
	obj.DropWatches()
	waitDoubt(t, s, true)
	a.send(a.task(2, write10(8, 8, false), bytes.Repeat([]byte{2}, 4096)))
	m := a.wait(1)[2]
	if m.Status != uint32(scsi.StatusCheckCondition) || len(m.Sense) < 14 || m.Sense[2]&0x0F != scsi.SenseNotReady ||
		m.Sense[12] != 0x04 || m.Sense[13] != 0x01 {
		t.Fatalf("WRITE while in doubt: status %#x sense %x, want NOT READY 04/01", m.Status, m.Sense)
	}
	a.send(a.task(3, []byte{scsi.OpInquiry, 0, 0, 0, 36, 0}, nil))
	expectGood(t, "INQUIRY while in doubt", a.wait(1)[3])

	obj.SetUnreadable(false)
	waitDoubt(t, s, false)
	a.send(a.task(4, write10(8, 8, false), bytes.Repeat([]byte{4}, 4096)))
	expectGood(t, "WRITE after the reread", a.wait(1)[4])
}

// TestClusterDoubtGatewayUnavailable: a gateway (a LUN of two port groups) whose
// view of the shared reservations is in doubt reports its group unavailable and
// answers commands that touch the medium or the reservations NOT READY, TARGET PORT
// IN UNAVAILABLE STATE (04/0C), which initiators send through the other gateway at
// once; REPORT TARGET PORT GROUPS and INQUIRY run. After the reread it serves again
// and its group is active/optimized again.
func TestClusterDoubtGatewayUnavailable(t *testing.T) {
	obj := prcluster.NewMemObject()
	s, opt := withLeasedStore(t, obj, 1, 50*time.Millisecond, 300*time.Millisecond)
	a := newLUNHarness(t, backend.NewMemory(1<<20), opt, func(c *Config) {
		c.Device = scsidev.New(scsidev.Config{BlockSize: 512, Blocks: 2048, WriteCache: true, TargetName: "t",
			PortGroups: []uint16{1, 2}, TargetPortGroup: 1, RelativePortID: 1})
		c.ALUA = &ALUA{Local: 1, Groups: []uint16{1, 2}}
	})
	itt := uint32(0)
	cmd := func(cdb, data []byte) *pb.ScsiCompletion {
		for range 3 {
			itt++
			a.send(a.task(itt, cdb, data))
			m := a.wait(1)[itt]
			if m.Status != uint32(scsi.StatusCheckCondition) || m.Sense[2]&0x0F != scsi.SenseUnitAttention {
				return m
			}
		}
		t.Fatal("unit attentions without end")
		return nil
	}
	expectGood(t, "WRITE before", cmd(write10(8, 8, false), bytes.Repeat([]byte{1}, 4096)))

	obj.SetUnreadable(true)
	obj.DropWatches()
	waitDoubt(t, s, true)
	expectCheck(t, "WRITE in doubt", cmd(write10(8, 8, false), bytes.Repeat([]byte{2}, 4096)), scsi.SenseNotReady, 0x04, 0x0C)
	expectCheck(t, "PERSISTENT RESERVE IN in doubt", cmd([]byte{scsi.OpPersistentReserveIn, 0, 0, 0, 0, 0, 0, 1, 0, 0}, nil),
		scsi.SenseNotReady, 0x04, 0x0C)
	expectGood(t, "INQUIRY in doubt", cmd([]byte{scsi.OpInquiry, 0, 0, 0, 36, 0}, nil))
	itt++
	if st, _ := rtpgStates(t, a, itt); st != "UO" {
		t.Fatalf("in doubt: states %s, want UO", st)
	}

	obj.SetUnreadable(false)
	waitDoubt(t, s, false)
	expectGood(t, "WRITE after the reread", cmd(write10(8, 8, false), bytes.Repeat([]byte{4}, 4096)))
	itt++
	if st, _ := rtpgStates(t, a, itt); st != "OO" {
		t.Fatalf("after the reread: states %s, want OO", st)
	}
}
