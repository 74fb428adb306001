package inprocess

import (
	"errors"
	"testing"
	"time"

	"github.com/atgt/atgt/backend"
	"github.com/atgt/atgt/messages/iscsi"
	"github.com/atgt/atgt/messages/scsi"
	"github.com/atgt/atgt/tests/initiator"
)

// tmfBound is how long a task management function, and the TASK ABORTED status of
// another nexus's task it aborts, may take even when a backend call never returns.
const tmfBound = 5 * time.Second

// TestTaskSetSharedByNexuses: the Control mode page says TST=000 (one task set per
// logical unit, shared by every I_T nexus) and TAS=1, and the functions behave so,
// with two sessions A and B. A has a READ held by a backend call that does not
// return; B then sends
//
//   - ABORT TASK SET: it acts on B's own tasks only (SAM-5), so A's READ is not
//     touched and completes GOOD once the backend returns;
//   - CLEAR TASK SET: A's READ ends with TASK ABORTED status (0x40), no sense, and
//     B's function is answered FUNCTION COMPLETE, both within 5 s although the call
//     never returns; with TAS=1 A gets no unit attention for it;
//   - LOGICAL UNIT RESET: the same for A's READ, and A's next command reports UNIT
//     ATTENTION, BUS DEVICE RESET FUNCTION OCCURRED (29/03), as SAM-5 has a logical
//     unit reset establish for every I_T nexus.
func TestTaskSetSharedByNexuses(t *testing.T) {
	holds := []*offsetHold{
		newOffsetHold(t, "read", 0),
		newOffsetHold(t, "read", 64<<10),
		newOffsetHold(t, "read", 128<<10),
	}
	wrap := func(target string, lun uint64, b backend.Backend) backend.Backend {
		for _, h := range holds {
			b = h.wrap(0)(target, lun, b)
		}
		return b
	}
	svc := start(t, baseConfig(t), wrap)
	t.Cleanup(func() { // before the target stops: its workers must come back
		for _, h := range holds {
			h.open()
		}
	})
	addr := svc.Addrs()[0]
	a := dial(t, addr, initiator.Options{ISID: isid(960), Timeout: 10 * time.Second})
	b := dial(t, addr, initiator.Options{ISID: isid(961), Timeout: 10 * time.Second})
	ready(t, a, 0)
	ready(t, b, 0)

	pg, err := a.ModeSenseControl(0)
	if err != nil {
		t.Fatalf("MODE SENSE control page: %v", err)
	}
	if tst := pg[2] >> 5; tst != 0 {
		t.Errorf("control page TST=%03b; want 000 (one task set for all I_T nexuses)", tst)
	}
	if pg[5]&0x40 == 0 {
		t.Errorf("control page TAS=0; want 1: % x", pg)
	}

	// heldRead starts a READ on A that the backend holds at the hold's offset.
	heldRead := func(h *offsetHold) *initiator.Task {
		t.Helper()
		task := a.Submit(0, read16(uint64(h.off/blockSize), 8), nil, 8*blockSize)
		h.waitHeld(t)
		return task
	}
	tmf := func(fn uint8, name string) {
		t.Helper()
		at := time.Now()
		resp, err := b.TaskMgmt(fn, 0, 0)
		if err != nil || resp != iscsi.TMFRespComplete {
			t.Fatalf("B's %s: response %d, %v; want 0 (function complete)", name, resp, err)
		}
		if d := time.Since(at); d > tmfBound {
			t.Fatalf("B's %s answered after %v; want within %v", name, d, tmfBound)
		}
	}
	taskAborted := func(task *initiator.Task, after string) {
		t.Helper()
		select {
		case <-task.Done():
		case <-time.After(tmfBound):
			t.Fatalf("A's held READ not answered %v after B's %s", tmfBound, after)
		}
		r, err := task.Wait()
		if err != nil {
			t.Fatalf("A's READ after B's %s: %v; want TASK ABORTED status", after, err)
		}
		if r.Status != scsi.StatusTaskAborted || len(r.Sense) != 0 {
			t.Fatalf("A's READ after B's %s: status %#02x sense % x; want TASK ABORTED (0x40), no sense", after, r.Status, r.Sense)
		}
	}

	// (a) ABORT TASK SET: B's nexus only.
	task := heldRead(holds[0])
	tmf(iscsi.TMFAbortTaskSet, "ABORT TASK SET")
	select {
	case <-task.Done():
		r, err := task.Wait()
		t.Fatalf("A's READ answered (%+v, %v) by B's ABORT TASK SET, which acts on B's tasks only", r, err)
	case <-time.After(300 * time.Millisecond):
	}
	holds[0].open()
	if r, err := task.Wait(); err != nil || r.Status != scsi.StatusGood {
		t.Fatalf("A's READ after B's ABORT TASK SET: %+v, %v; want GOOD", r, err)
	}

	// (b) CLEAR TASK SET: the shared task set; no unit attention with TAS=1.
	task = heldRead(holds[1])
	tmf(iscsi.TMFClearTaskSet, "CLEAR TASK SET")
	taskAborted(task, "CLEAR TASK SET")
	if err := a.TestUnitReady(0); err != nil {
		t.Fatalf("A's TEST UNIT READY after B's CLEAR TASK SET: %v; want GOOD (no unit attention with TAS=1)", err)
	}
	if err := b.TestUnitReady(0); err != nil {
		t.Fatalf("B's TEST UNIT READY after its CLEAR TASK SET: %v; want GOOD", err)
	}

	// (c) LOGICAL UNIT RESET: the task set, and a unit attention for every nexus.
	task = heldRead(holds[2])
	tmf(iscsi.TMFLUNReset, "LOGICAL UNIT RESET")
	taskAborted(task, "LOGICAL UNIT RESET")
	err = a.TestUnitReady(0)
	var se *initiator.SCSIError
	if !errors.As(err, &se) || se.Key() != scsi.SenseUnitAttention || se.ASC() != 0x29 || se.ASCQ() != 0x03 {
		t.Fatalf("A's next command after B's LOGICAL UNIT RESET: %v; want UNIT ATTENTION 29/03", err)
	}
	ready(t, a, 0)
	// A's session goes on.
	if _, err := a.Read(0, 512, 8, blockSize); err != nil {
		t.Fatalf("A's READ after the functions: %v", err)
	}
}
