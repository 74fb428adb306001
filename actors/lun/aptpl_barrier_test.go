package lun

import (
	"encoding/binary"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/atgt/atgt/actors/reservation"
	"github.com/atgt/atgt/backend"
	"github.com/atgt/atgt/messages/scsi"
)

// TestAPTPLBarrierHoldsUntilSaveSeen: a reservation change's save is a barrier of
// the task set until the LUN has read the save's report, not merely until the
// worker stopped counting it (the worker sends the report, answers the command,
// then uncounts). A task that reached the LUN's mailbox ahead of the report must
// wait for it: here B's PR OUT REGISTER (APTPL) arrives while A's RESERVE is being
// saved and the save fails. Run early, B's change overwrote the state A's failed
// save goes back to, so A's RESERVE, answered CHECK CONDITION, stayed in force and
// B's new key, answered GOOD, was lost (review of 2026-12-02, finding 1).
func TestAPTPLBarrierHoldsUntilSaveSeen(t *testing.T) {
	h := newPRHarness(t, backend.NewMemory(1<<20))
	expectGood(t, "REGISTER A", h.do(prNexA, prout(reservation.SARegister, 0, 0, 0xA, 1)))
	expectGood(t, "REGISTER B", h.do(prNexB, prout(reservation.SARegister, 0, 0, 0xB, 1)))

	reg := prout(reservation.SARegister, 0, 0xB, 0xB2, 1)
	btk := h.on(prNexB, reg.cdb, reg.data)
	proc, _ := h.sys.ProcessRegistry.Get(h.lun)
	var calls atomic.Int32
	old := writeStateFile
	writeStateFile = func(path string, data []byte) error {
		if calls.Add(1) == 1 {
			// A's save: B's command reaches the LUN while the save is being
			// written (the LUN is merely slow to read its mailbox).
			proc.SendSystemMessage(h.lun, &actor.SuspendMailbox{})
			h.send(btk)
			return errors.New("disk says no")
		}
		return old(path, data)
	}
	t.Cleanup(func() { writeStateFile = old })

	res := prout(reservation.SAReserve, reservation.TypeWriteExclusive, 0xA, 0, 0)
	rtk := h.on(prNexA, res.cdb, res.data)
	h.send(rtk)
	m := h.wait(1)[rtk.Itt] // answered after the IoRequest was enqueued
	expectCheck(t, "A's RESERVE whose save failed", m, scsi.SenseHardwareError, 0x44, 0x00)
	time.Sleep(50 * time.Millisecond) // the worker's doneIO follows its answer
	proc.SendSystemMessage(h.lun, &actor.ResumeMailbox{})
	expectGood(t, "B's REGISTER (new key 0xB2)", h.wait(1)[btk.Itt])

	st := h.prState()
	keys := []byte(st[0])
	var got []uint64
	for i := 8; i+8 <= len(keys); i += 8 {
		got = append(got, binary.BigEndian.Uint64(keys[i:i+8]))
	}
	rr := []byte(st[1])
	reserved := len(rr) >= 8 && binary.BigEndian.Uint32(rr[4:8]) != 0
	t.Logf("keys after: %x, reservation held: %v", got, reserved)
	if reserved {
		t.Errorf("A's RESERVE was answered CHECK CONDITION (save failed) but the reservation is in force")
	}
	if len(got) != 2 || got[1] != 0xB2 {
		t.Errorf("B's REGISTER was answered GOOD but the keys are %x, want [a b2]", got)
	}
}

// TestAPTPLFailedSaveKeepsLaterPreempt: the same race with a fencing PREEMPT.
// C's REGISTER (APTPL) save fails; B's PREEMPT of A, in the LUN's mailbox ahead
// of the save's report, must not run before the report is read: run early, it
// was answered GOOD and then the failed save's rollback restored the table from
// before it, so the fenced node A was registered again and its WRITEs succeeded.
func TestAPTPLFailedSaveKeepsLaterPreempt(t *testing.T) {
	const weRO = reservation.TypeWriteExclusiveRegistrantsOnly
	h := newPRHarness(t, backend.NewMemory(1<<20))
	expectGood(t, "REGISTER A", h.do(prNexA, prout(reservation.SARegister, 0, 0, 0xA, 1)))
	expectGood(t, "REGISTER B", h.do(prNexB, prout(reservation.SARegister, 0, 0, 0xB, 1)))
	expectGood(t, "RESERVE A", h.do(prNexA, prout(reservation.SAReserve, weRO, 0xA, 0, 0)))

	pre := prout(reservation.SAPreemptAndAbort, weRO, 0xB, 0xA, 0)
	btk := h.on(prNexB, pre.cdb, pre.data)
	proc, _ := h.sys.ProcessRegistry.Get(h.lun)
	var calls atomic.Int32
	old := writeStateFile
	writeStateFile = func(path string, data []byte) error {
		if calls.Add(1) == 1 {
			proc.SendSystemMessage(h.lun, &actor.SuspendMailbox{})
			h.send(btk)
			return errors.New("disk says no")
		}
		return old(path, data)
	}
	t.Cleanup(func() { writeStateFile = old })

	reg := prout(reservation.SARegister, 0, 0, 0xC, 1)
	ctk := h.on(prNexC, reg.cdb, reg.data)
	h.send(ctk)
	expectCheck(t, "C's REGISTER whose save failed", h.wait(1)[ctk.Itt], scsi.SenseHardwareError, 0x44, 0x00)
	time.Sleep(50 * time.Millisecond)
	proc.SendSystemMessage(h.lun, &actor.ResumeMailbox{})
	expectGood(t, "B's PREEMPT AND ABORT of A", h.wait(1)[btk.Itt])
	for range 4 {
		h.settle(prNexA) // unit attentions from the preemption, if any
		m := h.run(h.on(prNexA, write10(0, 1, false), make([]byte, 512)))
		if m.Status == uint32(scsi.StatusGood) {
			t.Fatalf("fenced node A's WRITE answered GOOD after B's PREEMPT AND ABORT was answered GOOD")
		}
		if m.Status == uint32(scsi.StatusReservationConflict) {
			return
		}
	}
}
