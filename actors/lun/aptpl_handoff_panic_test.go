package lun

import (
	"bytes"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atgt/atgt/actors/reservation"
	"github.com/atgt/atgt/actors/scsidev"
	"github.com/atgt/atgt/backend"
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/scsi"
)

// TestAPTPLSaveLUNPanicAtHandOff: the LUN actor fails after the device model
// took a PERSISTENT RESERVE OUT's change (and the task is no longer the one it
// has in hand) but before the change's save reached a worker. The save never
// runs, so the recovery must end it as a failed save: the command is answered
// CHECK CONDITION, HARDWARE ERROR, INTERNAL TARGET FAILURE (once), the table
// goes back to its state before the command (the initiator was told it failed,
// SPC-4 6.16.2), the state file is untouched, and the save's barrier goes:
// every later task of the LUN runs, and a later change is saved. Left up, the
// barrier held every later task for ever. With and without a rebuild of the
// device model (Config.Rebuild).
func TestAPTPLSaveLUNPanicAtHandOff(t *testing.T) {
	for _, rebuild := range []bool{false, true} {
		name := "kept"
		if rebuild {
			name = "rebuilt"
		}
		t.Run(name, func(t *testing.T) {
			devCfg := scsidev.Config{BlockSize: 512, Blocks: 2048, WriteCache: true, TargetName: "t", LUN: 0}
			var fired atomic.Int32
			fail := func(io *pb.IoRequest) {
				if io.Kind == pb.IoKind_IO_KIND_PERSIST_RESERVATIONS && !io.Immediate && fired.Add(1) == 1 {
					panic("injected: LUN actor failure handing a reservation save to the workers")
				}
			}
			h := newPRHarness(t, backend.NewMemory(1<<20), func(c *Config) {
				c.Device = scsidev.New(devCfg)
				if rebuild {
					c.Rebuild = func() (*scsidev.Device, *reservation.Table, error) {
						tb, err := reservation.LoadState(c.StatePath)
						return scsidev.New(devCfg), tb, err
					}
				}
			})
			expectGood(t, "REGISTER A", h.do(prNexA, prout(reservation.SARegister, 0, 0, 0xA, 1)))
			expectGood(t, "REGISTER B", h.do(prNexB, prout(reservation.SARegister, 0, 0, 0xB, 1)))
			expectGood(t, "RESERVE A", h.do(prNexA, prout(reservation.SAReserve, reservation.TypeWriteExclusive, 0xA, 0, 0)))
			before, file := h.prState(), h.fileState()

			handOffFault.Store(&fail)
			t.Cleanup(func() { handOffFault.Store(nil) })
			clr := prout(reservation.SAClear, 0, 0xA, 0, 0)
			ctk := h.on(prNexA, clr.cdb, clr.data)
			h.send(ctk)
			expectCheck(t, "CLEAR the LUN actor failed on", h.wait(1)[ctk.Itt], scsi.SenseHardwareError, 0x44, 0x00)
			if fired.Load() != 1 {
				t.Fatalf("the hand-off fault fired %d times, want 1: this case tests nothing", fired.Load())
			}

			// Later tasks run: the unit attentions of the recovery, then
			// PERSISTENT RESERVE IN and WRITEs.
			for _, n := range []string{prNexA, prNexB, prNexD} {
				h.settle(n)
			}
			if after := h.prState(); after != before {
				t.Fatalf("reservations after the failed CLEAR:\n% x\nwant as before:\n% x", after, before)
			}
			if got := h.fileState(); !bytes.Equal(got, file) {
				t.Fatalf("state file after the failed CLEAR:\n%s\nwant\n%s", got, file)
			}
			expectGood(t, "A's WRITE", h.run(h.on(prNexA, write10(8, 1, false), make([]byte, 512))))
			if m := h.run(h.on(prNexB, write10(16, 1, false), make([]byte, 512))); m.Status != uint32(scsi.StatusReservationConflict) {
				t.Fatalf("B's WRITE after the failed CLEAR: status %#x, want RESERVATION CONFLICT (A's reservation stands)", m.Status)
			}
			expectGood(t, "CLEAR again", h.do(prNexA, clr))
			if keys, _, _, reserved, _ := h.restartState(); len(keys) != 0 || reserved {
				t.Fatalf("a restart after the second CLEAR brings back keys %x, reserved %v; want none", keys, reserved)
			}
			select {
			case m := <-h.done:
				t.Fatalf("a stray answer: itt %d status %#x (the failed CLEAR is %d)", m.Itt, m.Status, ctk.Itt)
			case <-time.After(100 * time.Millisecond):
			}
		})
	}
}

// TestAPTPLSaveLUNPanicAtHandOffFromQueue: as TestAPTPLSaveLUNPanicAtHandOff,
// for a CLEAR that waited in the task set behind an earlier change's save and
// is run by the LUN as that save's report arrives: the message the actor
// fails on is not the task, so only the IO in hand leads the recovery to it.
// It must be answered (CHECK CONDITION, HARDWARE ERROR), its change undone,
// and the task set must go on.
func TestAPTPLSaveLUNPanicAtHandOffFromQueue(t *testing.T) {
	w := watchStateWrites(t)
	var fired atomic.Int32
	var clearItt atomic.Uint32
	fail := func(io *pb.IoRequest) {
		if io.Kind == pb.IoKind_IO_KIND_PERSIST_RESERVATIONS && io.Task != nil && io.Task.Itt == clearItt.Load() &&
			fired.Add(1) == 1 {
			panic("injected: LUN actor failure handing a reservation save to the workers")
		}
	}
	handOffFault.Store(&fail)
	t.Cleanup(func() { handOffFault.Store(nil) })
	h := newPRHarness(t, backend.NewMemory(1<<20))
	expectGood(t, "REGISTER A", h.do(prNexA, prout(reservation.SARegister, 0, 0, 0xA, 1)))
	expectGood(t, "RESERVE A", h.do(prNexA, prout(reservation.SAReserve, reservation.TypeWriteExclusive, 0xA, 0, 0)))

	w.hold()
	reg := prout(reservation.SARegister, 0, 0, 0xB, 1)
	rtk := h.on(prNexB, reg.cdb, reg.data)
	h.send(rtk)
	held := w.heldCall(t)
	clr := prout(reservation.SAClear, 0, 0xA, 0, 0)
	ctk := h.on(prNexA, clr.cdb, clr.data)
	clearItt.Store(ctk.Itt)
	h.send(ctk) // waits for B's REGISTER's save
	time.Sleep(50 * time.Millisecond)
	before := h.fileState()
	held.release <- nil
	got := h.wait(2)
	expectGood(t, "B's REGISTER", got[rtk.Itt])
	expectCheck(t, "CLEAR the LUN actor failed on", got[ctk.Itt], scsi.SenseHardwareError, 0x44, 0x00)
	if fired.Load() != 1 {
		t.Fatalf("the hand-off fault fired %d times, want 1: this case tests nothing", fired.Load())
	}
	w.settle()
	for _, n := range []string{prNexA, prNexB, prNexD} {
		h.settle(n)
	}
	expectRestart(t, h, "after the CLEAR the LUN actor failed on", []uint64{0xA, 0xB})
	if m := h.run(h.on(prNexB, write10(16, 1, false), make([]byte, 512))); m.Status != uint32(scsi.StatusReservationConflict) {
		t.Fatalf("B's WRITE after the failed CLEAR: status %#x, want RESERVATION CONFLICT (A's reservation stands)", m.Status)
	}
	if after := h.fileState(); len(after) == 0 || bytes.Equal(after, before) {
		t.Fatalf("state file: %q; want B's REGISTER saved", after)
	}
}
