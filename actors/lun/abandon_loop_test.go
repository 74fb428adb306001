package lun

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/atgt/atgt/actors/reservation"
	"github.com/atgt/atgt/actors/scsidev"
	"github.com/atgt/atgt/backend"
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/scsi"
)

// The tests of multi-call IO (a copy within one LU, WRITE SAME, SANITIZE) whose
// call was abandoned (ABORT TASK detached it, or it passed ioTimeout): once the
// call in the backend returns, the worker issues no further call for it (xcopy
// review F2). Each waits for the loop's end without sleeping: the abandoned call
// fences its write range until the worker is done with the IO (lateReturn), so a
// WRITE into that range is answered only after it.

// abortTask sends an ABORT TASK of itt for nexus n1 from h's connection.
func abortTask(h *lunHarness, itt uint32) {
	h.sys.Root.Send(h.lun, &pb.TaskManagement{Function: pb.TmfFunction_TMF_FUNCTION_ABORT_TASK, ReferencedItt: itt,
		Nexus: "n1", ReplyTo: pb.NewPid(h.conn)})
}

// afterFence writes one block at lba of nexus and waits for its answer: the
// fence of an abandoned call over lba is gone, so the worker's loop has ended.
func afterFence(t *testing.T, h *lunHarness, itt uint32, nexus string, lba uint32) {
	t.Helper()
	w := h.task(itt, write10(lba, 1, false), bytes.Repeat([]byte{0x77}, 512))
	w.Nexus = nexus
	h.send(w)
	if c := h.wait(1)[itt]; c == nil || c.Status != uint32(scsi.StatusGood) {
		t.Fatalf("WRITE behind the fence: %+v", c)
	}
}

// TestLocalCopyStopsAfterAbort: a copy within A (one IO plan in one worker)
// whose first chunk is held in the backend is aborted (ABORT TASK) and detached
// after the grace; when the held call returns, the copy's second segment is not
// written (a remote copy stops likewise: TestCopyAbortStops).
func TestLocalCopyStopsAfterAbort(t *testing.T) {
	ha, mb := newHoldBackend(t), backend.NewMemory(1<<20)
	a, _ := copyPair(t, ha, mb)
	fill(t, ha.Backend, 0, 8192, 0xA1)
	ha.hold("write", 100*512)
	a.send(xcopyTask(a, 1, seg(0, 0, 8, 0, 100), seg(0, 0, 8, 8, 200)))
	ha.waitHeld(t, "write@51200")
	release := holdOnce(ha, "write@51200")
	defer release()
	abortTask(a, 1)
	<-a.tmfs
	a.wait(1) // detached after the grace: the connection answers the function now
	release()
	afterFence(t, a, 2, "n1", 1000)
	if got := readBack(t, ha.Backend, 200*512, 4096); !bytes.Equal(got, make([]byte, 4096)) {
		t.Fatalf("the aborted copy wrote its second segment (%x...) after ABORT TASK was answered", got[:4])
	}
}

// TestPreemptedLocalCopyStopsWriting: n1 holds a WRITE EXCLUSIVE, REGISTRANTS
// ONLY reservation of A and runs a copy within A; a chunk's write passes A's
// ioTimeout, the call is abandoned and the copy answered. n2 then PREEMPTs AND
// ABORTs n1 (fence_scsi's way to fence a node) and is answered GOOD. When the
// slow call returns, the copy writes nothing more: no data of the preempted
// nexus reaches the medium after the preemption but the one call in the kernel.
func TestPreemptedLocalCopyStopsWriting(t *testing.T) {
	ha, mb := newHoldBackend(t), backend.NewMemory(1<<20)
	a, _ := copyPairWith(t, ha, mb, []func(*Config){func(c *Config) { c.IOTimeout = 200 * time.Millisecond }}, nil)
	fill(t, ha.Backend, 0, 8192, 0xA1)
	a.send(proutTask(a, 1, reservation.SARegister, 0, 0, 0xA))
	a.send(proutTask(a, 2, reservation.SAReserve, reservation.TypeWriteExclusiveRegistrantsOnly, 0xA, 0))
	for itt, c := range a.wait(2) {
		if c.Status != uint32(scsi.StatusGood) {
			t.Fatalf("PROUT %d: %+v", itt, c)
		}
	}
	ha.hold("write", 100*512)
	a.send(xcopyTask(a, 3, seg(0, 0, 8, 0, 100), seg(0, 0, 8, 8, 200)))
	ha.waitHeld(t, "write@51200")
	release := holdOnce(ha, "write@51200")
	defer release()
	if c := a.wait(1)[3]; c.Status != uint32(scsi.StatusCheckCondition) {
		t.Fatalf("copy past ioTimeout answered %+v", c)
	}
	reg := proutTask(a, 4, reservation.SARegister, 0, 0, 0xB)
	reg.Nexus = "n2"
	a.send(reg)
	a.wait(1)
	pa := proutTask(a, 5, reservation.SAPreemptAndAbort, reservation.TypeWriteExclusiveRegistrantsOnly, 0xB, 0xA)
	pa.Nexus = "n2"
	a.send(pa)
	if c := a.wait(1)[5]; c.Status != uint32(scsi.StatusGood) {
		t.Fatalf("PREEMPT AND ABORT: %+v", c)
	}
	release()
	afterFence(t, a, 6, "n2", 1000)
	if got := readBack(t, ha.Backend, 200*512, 4096); !bytes.Equal(got, make([]byte, 4096)) {
		t.Fatalf("the preempted nexus's copy wrote its second segment (%x...) after PREEMPT AND ABORT was answered", got[:4])
	}
}

// TestWriteSameStopsAfterAbort: a WRITE SAME of 2 MiB is written 1 MiB at a
// time; aborted and detached with its first chunk held in the backend, it does
// not write the second MiB once that call returns.
func TestWriteSameStopsAfterAbort(t *testing.T) {
	hb := newHoldBackend(t)
	hb.Backend = backend.NewMemory(8 << 20)
	a, _ := copyPair(t, hb, backend.NewMemory(1<<20))
	hb.hold("write", 0)
	cdb := make([]byte, 16)
	cdb[0] = scsi.OpWriteSame16
	binary.BigEndian.PutUint32(cdb[10:14], 4096) // 2 MiB of 512-byte blocks
	a.send(a.task(1, cdb, bytes.Repeat([]byte{0x5A}, 512)))
	hb.waitHeld(t, "write@0")
	release := holdOnce(hb, "write@0")
	defer release()
	abortTask(a, 1)
	<-a.tmfs
	a.wait(1)
	release()
	afterFence(t, a, 2, "n1", 4095)
	if got := readBack(t, hb.Backend, 1<<20, 512); !bytes.Equal(got, make([]byte, 512)) {
		t.Fatalf("the aborted WRITE SAME wrote its second MiB (%x...) after ABORT TASK was answered", got[:4])
	}
}

// TestSanitizeInProgressUntilOverwriteReturns: a SANITIZE OVERWRITE whose chunk
// passes ioTimeout is answered (LOGICAL UNIT COMMUNICATION TIME-OUT), but the LU
// stays NOT READY, SANITIZE IN PROGRESS while that call is still in the backend:
// the overwrite has not ended, and a read would see it go on. Once the call
// returns the overwrite stops (it issues no further chunk) and the LU is in the
// sanitize failure mode.
func TestSanitizeInProgressUntilOverwriteReturns(t *testing.T) {
	hb := newHoldBackend(t)
	hb.Backend = backend.NewMemory(4 << 20)
	a, _ := copyPairWith(t, hb, backend.NewMemory(1<<20), []func(*Config){func(c *Config) {
		c.IOTimeout = 200 * time.Millisecond
		c.Device = scsidev.New(scsidev.Config{BlockSize: 512, Blocks: 8192, WriteCache: true, TargetName: "t",
			NAA: naaA, AllowSanitize: true})
	}}, nil)
	hb.hold("write", 0)
	pattern := append([]byte{1, 0, 0, 4}, 0xEE, 0xEE, 0xEE, 0xEE)
	cdb := make([]byte, 10)
	cdb[0], cdb[1] = scsi.OpSanitize, scsi.SASanitizeOverwrite
	binary.BigEndian.PutUint16(cdb[7:9], uint16(len(pattern)))
	a.send(a.task(1, cdb, pattern))
	hb.waitHeld(t, "write@0")
	release := holdOnce(hb, "write@0")
	defer release()
	if c := a.wait(1)[1]; c.Status != uint32(scsi.StatusCheckCondition) {
		t.Fatalf("SANITIZE past ioTimeout answered %+v", c)
	}
	a.send(a.read(2, 4096))
	expectCheck(t, "READ while the abandoned overwrite runs", a.wait(1)[2], scsi.SenseNotReady, 0x04, 0x1B)
	release()
	// The worker ends the abandoned IO, then tells the LUN (lateReturn): a READ
	// answered with the failure mode comes after.
	deadline := time.Now().Add(5 * time.Second)
	for itt := uint32(3); ; itt++ {
		a.send(a.read(itt, 4096))
		c := a.wait(1)[itt]
		if key, asc, ascq, _ := scsi.ParseFixedSense(c.Sense); key == scsi.SenseMediumError && asc == 0x31 && ascq == 0x03 {
			break
		} else if key != scsi.SenseNotReady || asc != 0x04 || ascq != 0x1B {
			t.Fatalf("READ after the abandoned SANITIZE: %+v", c)
		}
		if time.Now().After(deadline) {
			t.Fatal("still SANITIZE IN PROGRESS 5 s after the overwrite's call returned")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := readBack(t, hb.Backend, 1<<20, 512); !bytes.Equal(got, make([]byte, 512)) {
		t.Fatalf("the abandoned SANITIZE wrote its second MiB (%x...)", got[:4])
	}
}
