package lun

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/atgt/atgt/actors/reservation"
	"github.com/atgt/atgt/backend"
	"github.com/atgt/atgt/backend/faults"
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/scsi"
)

// The I_T nexuses of the APTPL save tests, named as connections name them.
var (
	prNexA = reservation.NexusID("iqn.2026-12.dev.atgt:a", [6]byte{0x80, 0, 0, 0, 0, 1})
	prNexB = reservation.NexusID("iqn.2026-12.dev.atgt:b", [6]byte{0x80, 0, 0, 0, 0, 2})
	prNexC = reservation.NexusID("iqn.2026-12.dev.atgt:c", [6]byte{0x80, 0, 0, 0, 0, 3})
	// prNexD never registers: no reservation change raises a unit attention
	// for it, so it can always read the reservations.
	prNexD = reservation.NexusID("iqn.2026-12.dev.atgt:d", [6]byte{0x80, 0, 0, 0, 0, 4})
)

// prHarness is a LUN with local reservations saved under dir, driven one
// command at a time from several I_T nexuses.
type prHarness struct {
	*lunHarness
	dir, path string
	itt       uint32
	held      bool // holdSave without failHeldSave
}

func newPRHarness(t *testing.T, b backend.Backend, opts ...func(*Config)) *prHarness {
	dir := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "t-lun0.pr.json")
	opts = append([]func(*Config){func(c *Config) { c.Reservations, c.StatePath = reservation.New(), path }}, opts...)
	h := newLUNHarness(t, b, opts...)
	t.Cleanup(func() {
		// The LUN stops with the test, so that no save of it (a re-save
		// retried after a backoff) runs into a later test's.
		if watching != nil {
			watching.releaseAll()
		}
		select {
		case <-stopped(h.sys, h.lun):
		case <-time.After(3 * time.Second):
			t.Log("the LUN did not stop within 3 s")
		}
	})
	p := &prHarness{lunHarness: h, dir: dir, path: path, itt: 1000}
	for _, n := range []string{prNexA, prNexB, prNexC, prNexD} {
		p.settle(n)
	}
	return p
}

// on builds a task of nexus n.
func (h *prHarness) on(n string, cdb, data []byte) *pb.ScsiTask {
	h.itt++
	tk := h.task(h.itt, cdb, data)
	tk.Nexus = n
	return tk
}

// run sends tk and waits for its answer.
func (h *prHarness) run(tk *pb.ScsiTask) *pb.ScsiCompletion {
	h.send(tk)
	return h.wait(1)[tk.Itt]
}

// settle takes every unit attention pending for n, so that its next command
// shows whether a new one was raised.
func (h *prHarness) settle(n string) {
	for range 8 {
		if h.run(h.on(n, make([]byte, 6), nil)).Status == uint32(scsi.StatusGood) {
			return
		}
	}
	h.t.Fatalf("%s: unit attentions do not end", n)
}

// prCmd is a PERSISTENT RESERVE OUT: its CDB and parameter list.
type prCmd struct{ cdb, data []byte }

// do runs c from nexus n.
func (h *prHarness) do(n string, c prCmd) *pb.ScsiCompletion { return h.run(h.on(n, c.cdb, c.data)) }

// prout builds a PERSISTENT RESERVE OUT with the basic parameter list; flags
// is its byte 20 (APTPL 0x01).
func prout(sa, typ uint8, key, saKey uint64, flags byte) prCmd {
	cdb := make([]byte, 10)
	cdb[0], cdb[1], cdb[2] = scsi.OpPersistentReserveOut, sa, typ
	binary.BigEndian.PutUint32(cdb[5:9], 24)
	p := make([]byte, 24)
	binary.BigEndian.PutUint64(p[0:8], key)
	binary.BigEndian.PutUint64(p[8:16], saKey)
	p[20] = flags
	return prCmd{cdb, p}
}

// proutMove builds a REGISTER AND MOVE (SPC-4 6.17.4) of the reservation to
// dest through relative target port 1, with APTPL=1.
func proutMove(key, saKey uint64, dest string) prCmd {
	n := (len(dest) + 1 + 3) &^ 3
	n = max(n, 20)
	tid := make([]byte, 4+n)
	tid[0] = 0x40 | 0x05 // iSCSI, initiator port name format (SPC-4 7.6.4.6)
	binary.BigEndian.PutUint16(tid[2:4], uint16(n))
	copy(tid[4:], dest)
	p := make([]byte, 24, 24+len(tid))
	binary.BigEndian.PutUint64(p[0:8], key)
	binary.BigEndian.PutUint64(p[8:16], saKey)
	p[17] = 0x01 // APTPL
	binary.BigEndian.PutUint16(p[18:20], 1)
	binary.BigEndian.PutUint32(p[20:24], uint32(len(tid)))
	p = append(p, tid...)
	cdb := make([]byte, 10)
	cdb[0], cdb[1] = scsi.OpPersistentReserveOut, reservation.SARegisterAndMove
	binary.BigEndian.PutUint32(cdb[5:9], uint32(len(p)))
	return prCmd{cdb, p}
}

// prState is what PERSISTENT RESERVE IN reports through D: READ KEYS (with
// the PRgeneration), READ RESERVATION, READ FULL STATUS and REPORT
// CAPABILITIES (PTPL_A).
func (h *prHarness) prState() [4]string {
	var s [4]string
	for i, sa := range []uint8{reservation.SAReadKeys, reservation.SAReadReservation,
		reservation.SAReadFullStatus, reservation.SAReportCapabilities} {
		cdb := []byte{scsi.OpPersistentReserveIn, sa, 0, 0, 0, 0, 0, 0x10, 0, 0}
		tk := h.on(prNexD, cdb, nil)
		tk.Read, tk.ExpectedLength = true, 0x1000
		m := h.run(tk)
		expectGood(h.t, "PERSISTENT RESERVE IN", m)
		s[i] = string(m.DataIn)
	}
	return s
}

// access is the status of a one-block WRITE from each nexus.
func (h *prHarness) access() [3]uint32 {
	var st [3]uint32
	for i, n := range []string{prNexA, prNexB, prNexC} {
		st[i] = h.run(h.on(n, write10(uint32(8*i), 1, false), bytes.Repeat([]byte{byte(i + 1)}, 512))).Status
	}
	return st
}

// breakSaves makes every save of the state file fail, as a state directory
// that cannot be written does (the directory is moved away: a read-only one
// would not stop root); the returned function puts it back.
func (h *prHarness) breakSaves() (restore func()) {
	away := h.dir + ".away"
	if err := os.Rename(h.dir, away); err != nil {
		h.t.Fatal(err)
	}
	return func() {
		if err := os.Rename(away, h.dir); err != nil {
			h.t.Fatal(err)
		}
	}
}

// holdSave makes the next save block: it opens the state file, now a FIFO,
// until failHeldSave opens it for writing. A test that ends before lets it go
// on, so that no goroutine stays blocked in the FIFO's open.
func (h *prHarness) holdSave() {
	if err := os.Remove(h.path); err != nil {
		h.t.Fatal(err)
	}
	if err := syscall.Mkfifo(h.path, 0o600); err != nil {
		h.t.Fatal(err)
	}
	h.held = true
	h.t.Cleanup(func() {
		if h.held {
			// The save may not have reached the FIFO yet: wait for it
			// in the background.
			go func() {
				if f, err := os.OpenFile(h.path, os.O_WRONLY, 0); err == nil {
					f.Close()
				}
			}()
		}
	})
}

// failHeldSave lets the save holdSave held go on, and fail: the directory is
// gone (for good) by the time it writes.
func (h *prHarness) failHeldSave() {
	h.held = false
	away := h.dir + ".away"
	if err := os.Rename(h.dir, away); err != nil {
		h.t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(away, filepath.Base(h.path)), os.O_WRONLY, 0)
	if err != nil {
		h.t.Fatal(err)
	}
	f.Close()
}

// fileState is the state file's content, nil when there is none.
func (h *prHarness) fileState() []byte {
	b, err := os.ReadFile(h.path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		h.t.Fatal(err)
	}
	return b
}

// TestAPTPLSaveFailureRollsBack: a PERSISTENT RESERVE OUT that changes the
// reservations while APTPL is in effect, or turns it on or off, and whose save
// of the state file fails is answered CHECK CONDITION, HARDWARE ERROR, INTERNAL
// TARGET FAILURE (44/00: no medium's fault; README "Errors"), and changes
// nothing: PERSISTENT RESERVE IN reports what it did before (PRgeneration
// included: SPC-4 6.16.2 counts only commands that complete successfully), no
// nexus gets a unit attention for a change that did not happen (those of SPC-4
// 5.13.11.x are for a change made), every nexus has the access it had, and the state
// file is as it was. A GOOD answer would promise a change a power loss loses
// (SPC-4 6.17.3, APTPL: the state "shall" be retained); a failed command whose
// change stays in force would have the initiator believe the old state while the
// target enforces the new one. Once saves work again the same command succeeds.
func TestAPTPLSaveFailureRollsBack(t *testing.T) {
	const (
		keyA, keyB, keyC = 0xA, 0xB, 0xC
		weRO             = reservation.TypeWriteExclusiveRegistrantsOnly
	)
	tests := []struct {
		name string
		// aptpl: A and B registered with APTPL=1 (else 0); reserved: A then
		// holds a WRITE EXCLUSIVE, REGISTRANTS ONLY reservation.
		aptpl, reserved bool
		nexus           string
		cmd             prCmd
	}{
		{"REGISTER turning APTPL on", false, true, prNexC, prout(reservation.SARegister, 0, 0, keyC, 1)},
		{"REGISTER with APTPL", true, true, prNexC, prout(reservation.SARegister, 0, 0, keyC, 1)},
		{"REGISTER a new key", true, true, prNexB, prout(reservation.SARegister, 0, keyB, 0xB2, 1)},
		{"REGISTER unregistering the holder", true, true, prNexA, prout(reservation.SARegister, 0, keyA, 0, 1)},
		{"REGISTER turning APTPL off", true, true, prNexA, prout(reservation.SARegister, 0, keyA, 0xA2, 0)},
		{"REGISTER AND IGNORE EXISTING KEY", true, true, prNexB, prout(reservation.SARegisterAndIgnore, 0, 0, 0xB3, 1)},
		{"REGISTER AND IGNORE EXISTING KEY turning APTPL off", true, true, prNexB, prout(reservation.SARegisterAndIgnore, 0, 0, 0xB3, 0)},
		{"RESERVE", true, false, prNexA, prout(reservation.SAReserve, reservation.TypeExclusiveAccess, keyA, 0, 0)},
		{"RELEASE", true, true, prNexA, prout(reservation.SARelease, weRO, keyA, 0, 0)},
		{"CLEAR", true, true, prNexA, prout(reservation.SAClear, 0, keyA, 0, 0)},
		{"PREEMPT the holder", true, true, prNexB, prout(reservation.SAPreempt, reservation.TypeExclusiveAccess, keyB, keyA, 0)},
		{"PREEMPT a registrant", true, true, prNexA, prout(reservation.SAPreempt, weRO, keyA, keyB, 0)},
		{"PREEMPT AND ABORT the holder", true, true, prNexB, prout(reservation.SAPreemptAndAbort, reservation.TypeExclusiveAccess, keyB, keyA, 0)},
		{"REGISTER AND MOVE", true, true, prNexA, proutMove(keyA, keyC, prNexC)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newPRHarness(t, backend.NewMemory(1<<20))
			flags := byte(0)
			if tc.aptpl {
				flags = 1
			}
			expectGood(t, "REGISTER A", h.do(prNexA, prout(reservation.SARegister, 0, 0, keyA, flags)))
			expectGood(t, "REGISTER B", h.do(prNexB, prout(reservation.SARegister, 0, 0, keyB, flags)))
			if tc.reserved {
				expectGood(t, "RESERVE A", h.do(prNexA, prout(reservation.SAReserve, weRO, keyA, 0, 0)))
			}
			before, access, file := h.prState(), h.access(), h.fileState()
			if tc.aptpl != (file != nil) {
				t.Fatalf("state file %q with APTPL %v", file, tc.aptpl)
			}

			restore := h.breakSaves()
			m := h.do(tc.nexus, tc.cmd)
			restore()
			expectCheck(t, tc.name+" whose save failed", m, scsi.SenseHardwareError, 0x44, 0x00)
			if got := h.fileState(); !bytes.Equal(got, file) {
				t.Fatalf("state file after the failed save:\n%s\nwant\n%s", got, file)
			}
			after := h.prState()
			for i, what := range []string{"READ KEYS", "READ RESERVATION", "READ FULL STATUS", "REPORT CAPABILITIES"} {
				if after[i] != before[i] {
					t.Errorf("%s after the failed command:\n% x\nwant what it reported before:\n% x", what, after[i], before[i])
				}
			}
			for _, n := range []string{prNexA, prNexB, prNexC} {
				if m := h.run(h.on(n, make([]byte, 6), nil)); m.Status != uint32(scsi.StatusGood) {
					k, a, q := senseOf(m.Sense)
					t.Errorf("%s told of a change that did not happen: status %#x sense %x/%02x/%02x", n, m.Status, k, a, q)
				}
			}
			if got := h.access(); got != access {
				t.Errorf("WRITE status of A, B, C after the failed command %#x, want %#x as before", got, access)
			}

			// With saves working again, the same command succeeds and the file
			// holds what PERSISTENT RESERVE IN reports.
			expectGood(t, tc.name+" again", h.do(tc.nexus, tc.cmd))
			if h.prState() == before {
				t.Fatal("the command changed nothing when it succeeded: this case tests nothing")
			}
		})
	}
}

// TestAPTPLSaveHoldsTaskSet: while a reservation change's save is being written
// nothing is decided on the change, which may yet be undone: a later WRITE of
// another nexus, and a HEAD OF QUEUE READ RESERVATION, wait until the save ends
// (here it fails), and then run against the state as it stands, the one the
// initiator of the change was told. Holding the HEAD OF QUEUE task is the
// target's choice (SAM-5 8.6 would enable it at once): a change not yet saved is
// not yet made, and reading it would show a state that may never exist.
func TestAPTPLSaveHoldsTaskSet(t *testing.T) {
	h := newPRHarness(t, backend.NewMemory(1<<20))
	expectGood(t, "REGISTER A", h.do(prNexA, prout(reservation.SARegister, 0, 0, 0xA, 1)))
	expectGood(t, "REGISTER B", h.do(prNexB, prout(reservation.SARegister, 0, 0, 0xB, 1)))
	h.holdSave()
	reserve := prout(reservation.SAReserve, reservation.TypeWriteExclusive, 0xA, 0, 0)
	rtk := h.on(prNexA, reserve.cdb, reserve.data)
	wtk := h.on(prNexB, write10(8, 1, false), bytes.Repeat([]byte{0xB}, 512))
	qtk := h.on(prNexD, []byte{scsi.OpPersistentReserveIn, reservation.SAReadReservation, 0, 0, 0, 0, 0, 0, 64, 0}, nil)
	qtk.Read, qtk.ExpectedLength = true, 64
	qtk.Attribute = pb.TaskAttribute_TASK_ATTRIBUTE_HEAD_OF_QUEUE
	h.send(rtk)
	h.send(wtk)
	h.send(qtk)
	select {
	case m := <-h.done:
		t.Fatalf("task %d answered (status %#x) while the RESERVE's save was still being written", m.Itt, m.Status)
	case <-time.After(300 * time.Millisecond):
	}
	h.failHeldSave()
	got := h.wait(3)
	expectCheck(t, "RESERVE whose save failed", got[rtk.Itt], scsi.SenseHardwareError, 0x44, 0x00)
	expectGood(t, "B's WRITE after the failed RESERVE", got[wtk.Itt])
	expectGood(t, "READ RESERVATION", got[qtk.Itt])
	if d := got[qtk.Itt].DataIn; len(d) < 8 || binary.BigEndian.Uint32(d[4:8]) != 0 {
		t.Fatalf("READ RESERVATION after the failed RESERVE: % x, want no reservation", d)
	}
}

// TestAPTPLSaveHeadOfQueueStaysAhead: a HEAD OF QUEUE task that waits for a
// reservation change's save still runs before the tasks that were waiting before
// it (SAM-5 8.6: it goes to the head of the task set), behind earlier HEAD OF
// QUEUE tasks only.
func TestAPTPLSaveHeadOfQueueStaysAhead(t *testing.T) {
	h := newPRHarness(t, backend.NewMemory(1<<20))
	expectGood(t, "REGISTER A", h.do(prNexA, prout(reservation.SARegister, 0, 0, 0xA, 1)))
	h.holdSave()
	reserve := prout(reservation.SAReserve, reservation.TypeWriteExclusive, 0xA, 0, 0)
	rtk := h.on(prNexA, reserve.cdb, reserve.data)
	inquiry := func(attr pb.TaskAttribute) *pb.ScsiTask {
		tk := h.on(prNexD, []byte{scsi.OpInquiry, 0, 0, 0, 36, 0}, nil)
		tk.Read, tk.ExpectedLength, tk.Attribute = true, 36, attr
		return tk
	}
	simple1, head1 := inquiry(pb.TaskAttribute_TASK_ATTRIBUTE_SIMPLE), inquiry(pb.TaskAttribute_TASK_ATTRIBUTE_HEAD_OF_QUEUE)
	simple2, head2 := inquiry(pb.TaskAttribute_TASK_ATTRIBUTE_SIMPLE), inquiry(pb.TaskAttribute_TASK_ATTRIBUTE_HEAD_OF_QUEUE)
	for _, tk := range []*pb.ScsiTask{rtk, simple1, head1, simple2, head2} {
		h.send(tk)
	}
	select {
	case m := <-h.done:
		t.Fatalf("task %d answered (status %#x) while the RESERVE's save was still being written", m.Itt, m.Status)
	case <-time.After(300 * time.Millisecond):
	}
	h.failHeldSave()
	var order []uint32
	for range 5 {
		select {
		case m := <-h.done:
			if m.Itt != rtk.Itt {
				order = append(order, m.Itt)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("answered so far (INQUIRYs): %v", order)
		}
	}
	want := []uint32{head1.Itt, head2.Itt, simple1.Itt, simple2.Itt}
	if !slices.Equal(order, want) {
		t.Fatalf("INQUIRYs answered in the order %v, want %v (HEAD OF QUEUE first, each kind in arrival order)", order, want)
	}
}

// TestAPTPLSaveFailedPreemptAndAbort: PREEMPT AND ABORT runs as an ORDERED task
// (ordering.go): the holder's WRITE already with a worker completes, GOOD and on
// the medium, before it runs, and it aborts nothing itself. When its save then
// fails, the holder keeps its registration and reservation and writes on, and
// the preempting nexus is still excluded: the preemption did not happen.
func TestAPTPLSaveFailedPreemptAndAbort(t *testing.T) {
	b := newHoldBackend(t)
	h := newPRHarness(t, b)
	expectGood(t, "REGISTER A", h.do(prNexA, prout(reservation.SARegister, 0, 0, 0xA, 1)))
	expectGood(t, "REGISTER B", h.do(prNexB, prout(reservation.SARegister, 0, 0, 0xB, 1)))
	expectGood(t, "RESERVE A", h.do(prNexA, prout(reservation.SAReserve, reservation.TypeWriteExclusive, 0xA, 0, 0)))

	release := b.hold("write", 8192)
	wtk := h.on(prNexA, write10(16, 1, false), bytes.Repeat([]byte{0xA1}, 512))
	h.send(wtk)
	b.waitHeld(t, "write@8192")
	restore := h.breakSaves()
	pa := prout(reservation.SAPreemptAndAbort, reservation.TypeWriteExclusive, 0xB, 0xA, 0)
	ptk := h.on(prNexB, pa.cdb, pa.data)
	h.send(ptk)
	select {
	case m := <-h.done:
		t.Fatalf("task %d answered (status %#x) while A's WRITE was held", m.Itt, m.Status)
	case <-time.After(200 * time.Millisecond):
	}
	release()
	got := h.wait(2)
	restore()
	expectGood(t, "A's WRITE admitted before the PREEMPT AND ABORT", got[wtk.Itt])
	expectCheck(t, "PREEMPT AND ABORT whose save failed", got[ptk.Itt], scsi.SenseHardwareError, 0x44, 0x00)
	data := make([]byte, 512)
	if _, err := b.Backend.ReadAt(data, 8192); err != nil || data[0] != 0xA1 {
		t.Fatalf("medium at A's WRITE: %x (%v), want A's data", data[:4], err)
	}
	expectGood(t, "A's WRITE after the failed preemption", h.run(h.on(prNexA, write10(24, 1, false), make([]byte, 512))))
	if m := h.run(h.on(prNexB, write10(32, 1, false), make([]byte, 512))); m.Status != uint32(scsi.StatusReservationConflict) {
		t.Fatalf("B's WRITE after its failed PREEMPT AND ABORT: status %#x, want RESERVATION CONFLICT", m.Status)
	}
}

// TestAPTPLSaveAbandoned: a save that passes ioTimeout is abandoned and its
// command answered ABORTED COMMAND, COMMAND TIMEOUT; the change is undone as for
// a save that failed, so the initiator's next commands find the state it was
// told of (no reservation), and the task set goes on.
func TestAPTPLSaveAbandoned(t *testing.T) {
	h := newPRHarness(t, backend.NewMemory(1<<20), func(c *Config) { c.IOTimeout = time.Second })
	expectGood(t, "REGISTER A", h.do(prNexA, prout(reservation.SARegister, 0, 0, 0xA, 1)))
	expectGood(t, "REGISTER B", h.do(prNexB, prout(reservation.SARegister, 0, 0, 0xB, 1)))
	h.holdSave()
	defer h.failHeldSave()
	m := h.do(prNexA, prout(reservation.SAReserve, reservation.TypeWriteExclusive, 0xA, 0, 0))
	se := scsi.CommandTimeout()
	expectCheck(t, "RESERVE whose save was abandoned", m, se.Key, se.ASC, se.ASCQ)
	state := h.prState()
	if r := state[1]; len(r) < 8 || binary.BigEndian.Uint32([]byte(r[4:8])) != 0 {
		t.Fatalf("READ RESERVATION after the abandoned RESERVE: % x, want no reservation", r)
	}
	expectGood(t, "B's WRITE after the abandoned RESERVE", h.run(h.on(prNexB, write10(8, 1, false), make([]byte, 512))))
}

// TestAPTPLSaveLUNPanicBeforeSave: the LUN actor fails after a PERSISTENT
// RESERVE OUT changed the table but before its save reached a worker; the
// command is answered CHECK CONDITION, HARDWARE ERROR (recover.go), so its
// change must not stand: no save of it is ever written, and the initiator was
// told it failed.
func TestAPTPLSaveLUNPanicBeforeSave(t *testing.T) {
	inj := faults.New(nil, nil)
	h := newPRHarness(t, backend.NewMemory(1<<20), func(c *Config) { c.Faults = inj })
	expectGood(t, "REGISTER A", h.do(prNexA, prout(reservation.SARegister, 0, 0, 0xA, 1)))
	expectGood(t, "REGISTER B", h.do(prNexB, prout(reservation.SARegister, 0, 0, 0xB, 1)))
	before, file := h.prState(), h.fileState()
	inj.Set([]faults.Fault{{Op: faults.Any, Kind: faults.LUNPanic, Probability: 1, Count: 1}})
	m := h.do(prNexA, prout(reservation.SAClear, 0, 0xA, 0, 0))
	expectCheck(t, "CLEAR the LUN actor failed on", m, scsi.SenseHardwareError, 0x44, 0x00)
	for _, n := range []string{prNexA, prNexB, prNexD} {
		h.settle(n) // POWER ON, RESET from the recovery
	}
	if after := h.prState(); after != before {
		t.Fatalf("reservations after the failed CLEAR:\n% x\nwant as before:\n% x", after, before)
	}
	if got := h.fileState(); !bytes.Equal(got, file) {
		t.Fatalf("state file after the failed CLEAR:\n%s\nwant\n%s", got, file)
	}
}

// stopped stops the actor pid and is closed once it has.
func stopped(sys *actor.ActorSystem, pid *actor.PID) <-chan struct{} {
	done := make(chan struct{})
	f := sys.Root.StopFuture(pid)
	go func() {
		_, _ = f.Result()
		close(done)
	}()
	return done
}
