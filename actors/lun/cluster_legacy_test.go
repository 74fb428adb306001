package lun

import (
	"bytes"
	"testing"
	"time"

	"github.com/atgt/atgt/actors/prcluster"
	"github.com/atgt/atgt/backend"
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/scsi"
)

// The holder's nexus is lost while its RESERVE(6) is still with the cluster
// store (the cache does not show it yet): the release is queued after it all
// the same, so no reservation is left held by a nexus that no longer exists,
// and writes through another gateway go on.
func TestClusterLegacyReserveNexusLostInFlight(t *testing.T) {
	obj := prcluster.NewMemObject()
	a := newLUNHarness(t, backend.NewMemory(1<<20), withClusterStore(t, obj, 1))
	bn := newLUNHarness(t, backend.NewMemory(1<<20), withClusterStore(t, obj, 2))
	reserve6 := []byte{scsi.OpReserve6, 0, 0, 0, 0, 0}
	a.send(a.task(1, reserve6, nil))
	a.sys.Root.Send(a.lun, &pb.NexusLoss{Nexus: "n1"})
	time.Sleep(500 * time.Millisecond)
	bn.send(bn.task(2, write10(8, 8, false), bytes.Repeat([]byte{2}, 4096)))
	if m := bn.wait(1)[2]; m.Status == uint32(scsi.StatusReservationConflict) {
		t.Fatal("WRITE via B after A's holder nexus was lost: RESERVATION CONFLICT (the RESERVE(6) of the lost nexus landed and stays)")
	}
}

// A LOGICAL UNIT RESET through A is answered only once the release of the
// RESERVE(6) it ends is in the shared state and every node has it: a WRITE
// through B sent right after the answer does not conflict.
func TestClusterResetAnsweredAfterRelease(t *testing.T) {
	for i := range 5 {
		obj := prcluster.NewMemObject()
		a := newLUNHarness(t, backend.NewMemory(1<<20), withClusterStore(t, obj, 1))
		bn := newLUNHarness(t, backend.NewMemory(1<<20), withClusterStore(t, obj, 2))
		a.send(a.task(1, []byte{scsi.OpReserve6, 0, 0, 0, 0, 0}, nil))
		expectGood(t, "RESERVE(6) via A", a.wait(1)[1])
		bn.send(bn.task(2, write10(8, 8, false), bytes.Repeat([]byte{2}, 4096)))
		if m := bn.wait(1)[2]; m.Status != uint32(scsi.StatusReservationConflict) {
			t.Fatalf("WRITE via B under A's RESERVE(6): status %#x, want RESERVATION CONFLICT", m.Status)
		}
		a.sys.Root.Send(a.lun, &pb.TaskManagement{Function: pb.TmfFunction_TMF_FUNCTION_LOGICAL_UNIT_RESET, Itt: 3,
			Target: "t", ReplyTo: pb.NewPid(a.conn), Nexus: "n1"})
		select {
		case <-a.tmfs:
		case <-time.After(5 * time.Second):
			t.Fatal("LOGICAL UNIT RESET not answered")
		}
		bn.send(bn.task(4, write10(8, 8, false), bytes.Repeat([]byte{4}, 4096)))
		if m := bn.wait(1)[4]; m.Status == uint32(scsi.StatusReservationConflict) {
			t.Fatalf("round %d: WRITE via B right after the LOGICAL UNIT RESET was answered: RESERVATION CONFLICT", i)
		}
	}
}
