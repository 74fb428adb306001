package lun

import (
	"bytes"
	"testing"
	"time"

	"github.com/atgt/atgt/actors/prcluster"
	"github.com/atgt/atgt/backend"
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
