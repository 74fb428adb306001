package lun

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/atgt/atgt/actors/prcluster"
	"github.com/atgt/atgt/actors/reservation"
	"github.com/atgt/atgt/backend"
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/scsi"
)

// withClusterStore makes a harness one node of a logical unit whose
// reservations live in obj, serving relative target port port.
func withClusterStore(t *testing.T, obj *prcluster.MemObject, port uint16) func(*Config) {
	return withClusterStoreWait(t, obj, port, prcluster.NotifyTimeout)
}

// withClusterStoreWait is withClusterStore with the store's NotifyWait; a
// short wait shortens the staleness bound to it too (the writer waits that
// out when a node does not acknowledge).
func withClusterStoreWait(t *testing.T, obj *prcluster.MemObject, port uint16, wait time.Duration) func(*Config) {
	s, err := prcluster.Open(obj.Handle(), port, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.SetNotifyWait(wait)
	if wait < prcluster.StaleAfter {
		s.SetLease(wait/8, wait)
	}
	t.Cleanup(s.Close)
	return func(c *Config) { c.ClusterPR, c.Reservations = s, s.Cache() }
}

func proutTask(h *lunHarness, itt uint32, sa, typ uint8, key, saKey uint64) *pb.ScsiTask {
	cdb := make([]byte, 10)
	cdb[0], cdb[1], cdb[2] = scsi.OpPersistentReserveOut, sa, typ
	binary.BigEndian.PutUint32(cdb[5:9], 24)
	p := make([]byte, 24)
	binary.BigEndian.PutUint64(p[0:8], key)
	binary.BigEndian.PutUint64(p[8:16], saKey)
	return h.task(itt, cdb, p)
}

// TestClusterPreemptAndAbortFences: two nodes share one reservation object.
// The nexus on node A holds a WRITE EXCLUSIVE, REGISTRANTS ONLY reservation
// and has a WRITE with its IO worker when node B's nexus sends PREEMPT AND
// ABORT: B's PROUT is answered only after A's WRITE has finished (A
// acknowledges the change only then), and A's nexus then gets REGISTRATIONS
// PREEMPTED and, after it, RESERVATION CONFLICT.
func TestClusterPreemptAndAbortFences(t *testing.T) {
	obj := prcluster.NewMemObject()
	b := newHoldBackend(t)
	a := newLUNHarness(t, b, withClusterStore(t, obj, 1))
	bn := newLUNHarness(t, backend.NewMemory(1<<20), withClusterStore(t, obj, 2))

	a.send(proutTask(a, 1, reservation.SARegister, 0, 0, 0xA))
	expectGood(t, "REGISTER via A", a.wait(1)[1])
	a.send(proutTask(a, 2, reservation.SAReserve, reservation.TypeWriteExclusiveRegistrantsOnly, 0xA, 0))
	expectGood(t, "RESERVE via A", a.wait(1)[2])
	bn.send(proutTask(bn, 3, reservation.SARegister, 0, 0, 0xB))
	expectGood(t, "REGISTER via B", bn.wait(1)[3])

	release := b.hold("write", 8192)
	a.send(a.task(4, write10(16, 8, false), bytes.Repeat([]byte{0x44}, 4096)))
	b.waitHeld(t, "write@8192")

	bn.send(proutTask(bn, 5, reservation.SAPreemptAndAbort, reservation.TypeWriteExclusiveRegistrantsOnly, 0xB, 0xA))
	select {
	case m := <-bn.done:
		t.Fatalf("PREEMPT AND ABORT answered (status %#x) while A's WRITE was in flight", m.Status)
	case <-time.After(300 * time.Millisecond):
	}
	// A holds new commands back meanwhile (they would see the new state).
	a.send(a.read(6, 64))
	select {
	case m := <-a.done:
		t.Fatalf("task %d answered on A while the fence held", m.Itt)
	case <-time.After(100 * time.Millisecond):
	}
	release()
	got := a.wait(2)
	expectGood(t, "A's WRITE admitted before the preempt", got[4])
	expectCheck(t, "A's first command after the preempt", got[6], scsi.SenseUnitAttention, 0x2A, 0x05)
	expectGood(t, "PREEMPT AND ABORT via B", bn.wait(1)[5])

	a.send(a.task(7, write10(32, 8, false), bytes.Repeat([]byte{0x77}, 4096)))
	if m := a.wait(1)[7]; m.Status != uint32(scsi.StatusReservationConflict) {
		t.Fatalf("preempted A's WRITE: status %#x, want RESERVATION CONFLICT", m.Status)
	}
	bn.send(bn.task(8, write10(32, 8, false), bytes.Repeat([]byte{0x88}, 4096)))
	expectGood(t, "B's WRITE as holder", bn.wait(1)[8])
	if !bytes.Contains(obj.Data(), []byte(`"generation":3`)) {
		t.Fatalf("shared state %s, want generation 3", obj.Data())
	}
}

// TestClusterReadKeysOtherNode: READ KEYS through B lists a key registered
// through A; with registrations present, RESERVE(6) from a non-member
// conflicts (SPC-4 5.13.3) on the other node too.
func TestClusterReadKeysOtherNode(t *testing.T) {
	obj := prcluster.NewMemObject()
	a := newLUNHarness(t, backend.NewMemory(1<<20), withClusterStore(t, obj, 1))
	bn := newLUNHarness(t, backend.NewMemory(1<<20), withClusterStore(t, obj, 2))
	a.send(proutTask(a, 1, reservation.SARegister, 0, 0, 0x1234))
	expectGood(t, "REGISTER via A", a.wait(1)[1])
	cdb := []byte{scsi.OpPersistentReserveIn, reservation.SAReadKeys, 0, 0, 0, 0, 0, 0, 64, 0}
	tk := bn.task(2, cdb, nil)
	tk.Read, tk.ExpectedLength = true, 64
	bn.send(tk)
	m := bn.wait(1)[2]
	expectGood(t, "READ KEYS via B", m)
	if len(m.DataIn) != 16 || binary.BigEndian.Uint64(m.DataIn[8:]) != 0x1234 {
		t.Fatalf("READ KEYS via B: %x, want one key 1234", m.DataIn)
	}
	bn.send(bn.task(3, []byte{scsi.OpReserve6, 0, 0, 0, 0, 0}, nil))
	if m := bn.wait(1)[3]; m.Status != uint32(scsi.StatusReservationConflict) {
		t.Fatalf("RESERVE(6) via B with registrations present: status %#x, want RESERVATION CONFLICT", m.Status)
	}
}

// TestClusterLegacyReserve: an SPC-2 RESERVE(6) through A excludes the other
// nexuses through B; it ends when A loses the holder's nexus, and a LOGICAL
// UNIT RESET through A ends one held through B.
func TestClusterLegacyReserve(t *testing.T) {
	obj := prcluster.NewMemObject()
	a := newLUNHarness(t, backend.NewMemory(1<<20), withClusterStore(t, obj, 1))
	bn := newLUNHarness(t, backend.NewMemory(1<<20), withClusterStore(t, obj, 2))
	reserve6 := []byte{scsi.OpReserve6, 0, 0, 0, 0, 0}
	a.send(a.task(1, reserve6, nil))
	expectGood(t, "RESERVE(6) via A", a.wait(1)[1])
	bn.send(bn.task(2, write10(8, 8, false), bytes.Repeat([]byte{2}, 4096)))
	if m := bn.wait(1)[2]; m.Status != uint32(scsi.StatusReservationConflict) {
		t.Fatalf("WRITE via B under A's RESERVE(6): status %#x, want RESERVATION CONFLICT", m.Status)
	}
	bn.send(bn.task(3, reserve6, nil))
	if m := bn.wait(1)[3]; m.Status != uint32(scsi.StatusReservationConflict) {
		t.Fatalf("RESERVE(6) via B under A's: status %#x, want RESERVATION CONFLICT", m.Status)
	}
	// A loses the holder's nexus: the reservation ends everywhere.
	a.sys.Root.Send(a.lun, &pb.NexusLoss{Nexus: "n1"})
	deadline := time.Now().Add(5 * time.Second)
	for itt := uint32(10); ; itt++ {
		bn.send(bn.task(itt, reserve6, nil))
		if m := bn.wait(1)[itt]; m.Status == uint32(scsi.StatusGood) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("A's RESERVE(6) still held after A lost its nexus")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The harness's nexus n1 comes back as a new one: POWER ON, RESET first.
	a.send(a.task(40, []byte{scsi.OpTestUnitReady, 0, 0, 0, 0, 0}, nil))
	if m := a.wait(1)[40]; m.Status != uint32(scsi.StatusCheckCondition) || len(m.Sense) < 14 ||
		m.Sense[2]&0x0f != scsi.SenseUnitAttention || m.Sense[12] != 0x29 {
		t.Fatalf("first command of n1 after its loss: status %#x sense %x, want UA 29/xx", m.Status, m.Sense)
	}
	a.send(a.task(4, write10(8, 8, false), bytes.Repeat([]byte{4}, 4096)))
	if m := a.wait(1)[4]; m.Status != uint32(scsi.StatusReservationConflict) {
		t.Fatalf("WRITE via A under B's RESERVE(6): status %#x, want RESERVATION CONFLICT", m.Status)
	}
	// A LOGICAL UNIT RESET through A releases B's reservation; A's next RESERVE
	// is queued after the release.
	a.sys.Root.Send(a.lun, &pb.TaskManagement{Function: pb.TmfFunction_TMF_FUNCTION_LOGICAL_UNIT_RESET, Itt: 5,
		Target: "t", ReplyTo: pb.NewPid(a.conn), Nexus: "n1"})
	select {
	case <-a.tmfs:
	case <-time.After(5 * time.Second):
		t.Fatal("LOGICAL UNIT RESET not answered")
	}
	a.send(a.task(6, make([]byte, 6), nil)) // the reset's unit attention
	expectCheck(t, "A after the reset", a.wait(1)[6], scsi.SenseUnitAttention, 0x29, 0x03)
	a.send(a.task(7, reserve6, nil))
	expectGood(t, "RESERVE(6) via A after the reset", a.wait(1)[7])
}

// TestClusterFenceExpires: a WRITE stuck in A's backend holds A's
// acknowledgement of B's PREEMPT only as long as B waits for it; then B
// answers (after the staleness bound: A rereads meanwhile), and A stops
// holding new commands back (they see the new state).
func TestClusterFenceExpires(t *testing.T) {
	obj := prcluster.NewMemObject()
	b := newHoldBackend(t)
	const wait = 400 * time.Millisecond
	a := newLUNHarness(t, b, withClusterStoreWait(t, obj, 1, wait))
	bn := newLUNHarness(t, backend.NewMemory(1<<20), withClusterStoreWait(t, obj, 2, wait))
	a.send(proutTask(a, 1, reservation.SARegister, 0, 0, 0xA))
	expectGood(t, "REGISTER via A", a.wait(1)[1])
	bn.send(proutTask(bn, 2, reservation.SARegister, 0, 0, 0xB))
	expectGood(t, "REGISTER via B", bn.wait(1)[2])
	release := b.hold("write", 8192)
	defer release()
	a.send(a.task(3, write10(16, 8, false), bytes.Repeat([]byte{3}, 4096)))
	b.waitHeld(t, "write@8192")

	start := time.Now()
	bn.send(proutTask(bn, 4, reservation.SAPreempt, 0, 0xB, 0xA))
	expectGood(t, "PREEMPT via B", bn.wait(1)[4])
	if d := time.Since(start); d < wait/2 || d > 5*time.Second {
		t.Fatalf("PREEMPT answered after %v, want about the %v wait", d, wait)
	}
	a.send(a.read(5, 64))
	expectCheck(t, "A's command after the fence expired", a.wait(1)[5], scsi.SenseUnitAttention, 0x2A, 0x05)
}
