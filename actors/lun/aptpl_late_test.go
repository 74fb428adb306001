package lun

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/atgt/atgt/actors/reservation"
	"github.com/atgt/atgt/backend"
	"github.com/atgt/atgt/messages/scsi"
)

// stateWriter stands in for reservation.WriteStateFile (writeStateFile): it
// holds the calls hold asks for, as a hung disk does, until the test releases
// them, and reports every call once it returned.
type stateWriter struct {
	mu    sync.Mutex
	holds int
	open  []*heldWrite
	held  chan *heldWrite
	wrote chan stateWrite
}

// heldWrite is a held call: sending nil on release lets it write, an error
// makes it return that error without writing.
type heldWrite struct {
	data    []byte
	release chan error
}

// stateWrite is a call that returned: the snapshot it was given and its error.
type stateWrite struct {
	data []byte
	err  error
}

// watchStateWrites puts a stateWriter in place of the LUN's state file writer
// until the test ends; call it before the LUN starts.
func watchStateWrites(t *testing.T) *stateWriter {
	w := &stateWriter{held: make(chan *heldWrite, 8), wrote: make(chan stateWrite, 64)}
	old := writeStateFile
	writeStateFile, watching = w.write, w
	t.Cleanup(func() {
		// The LUN stopped first (newPRHarness), once releaseAll let its
		// held calls go: no worker reads writeStateFile any more.
		w.releaseAll()
		writeStateFile, watching = old, nil
	})
	return w
}

// watching is the stateWriter in place, if any: a test's LUN releases its
// held calls before it stops (newPRHarness).
var watching *stateWriter

// releaseAll makes every held call return an error.
func (w *stateWriter) releaseAll() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, h := range w.open {
		select {
		case h.release <- errors.New("test over"):
		default:
		}
	}
}

func (w *stateWriter) write(path string, data []byte) error {
	var h *heldWrite
	w.mu.Lock()
	if w.holds > 0 {
		w.holds--
		h = &heldWrite{data: data, release: make(chan error, 1)}
		w.open = append(w.open, h)
	}
	w.mu.Unlock()
	var err error
	if h != nil {
		w.held <- h
		err = <-h.release
	}
	if err == nil {
		err = reservation.WriteStateFile(path, data)
	}
	w.wrote <- stateWrite{data, err}
	return err
}

// hold makes the next call wait for its release.
func (w *stateWriter) hold() {
	w.mu.Lock()
	w.holds++
	w.mu.Unlock()
}

// heldCall is the call hold made wait.
func (w *stateWriter) heldCall(t *testing.T) *heldWrite {
	t.Helper()
	select {
	case h := <-w.held:
		return h
	case <-time.After(5 * time.Second):
		t.Fatal("no state file save was held")
		return nil
	}
}

// next is the next call that returned.
func (w *stateWriter) next(t *testing.T, what string) stateWrite {
	t.Helper()
	select {
	case s := <-w.wrote:
		return s
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: no state file save returned", what)
		return stateWrite{}
	}
}

// drain takes the calls that returned so far and returns the last.
func (w *stateWriter) drain() (last stateWrite) {
	for {
		select {
		case last = <-w.wrote:
		default:
			return last
		}
	}
}

// settle takes the calls that return until none has for a while: the LUN's
// background saves are then done.
func (w *stateWriter) settle() []stateWrite {
	var got []stateWrite
	for {
		select {
		case s := <-w.wrote:
			got = append(got, s)
		case <-time.After(500 * time.Millisecond):
			return got
		}
	}
}

// seqOf is a snapshot's number.
func seqOf(t *testing.T, data []byte) uint64 {
	seq, _ := decodeSnapshot(t, data)
	return seq
}

// decodeSnapshot is a snapshot's number and how many registrations it holds.
func decodeSnapshot(t *testing.T, data []byte) (seq uint64, regs int) {
	t.Helper()
	var s struct {
		Seq           uint64
		Registrations []json.RawMessage
	}
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatalf("snapshot %q: %v", data, err)
	}
	return s.Seq, len(s.Registrations)
}

// restartState is what a restart brings back from the state file
// (reservation.LoadState, as atgtd loads it): READ KEYS' keys and READ
// RESERVATION's key and type (reserved false: none), as D reads them.
func (h *prHarness) restartState() (keys []uint64, resKey uint64, typ uint8, reserved bool, tb *reservation.Table) {
	tb, err := reservation.LoadState(h.path)
	if err != nil {
		h.t.Fatalf("loading the state file as a restart does: %v", err)
	}
	prin := func(sa uint8) []byte {
		out, _ := tb.Execute(reservation.Nexus{ID: prNexD}, []byte{scsi.OpPersistentReserveIn, sa, 0, 0, 0, 0, 0, 0x10, 0, 0}, nil)
		if out.Status != scsi.StatusGood || len(out.Data) < 8 {
			h.t.Fatalf("PERSISTENT RESERVE IN %#x after the restart: status %#x data % x", sa, out.Status, out.Data)
		}
		return out.Data
	}
	d := prin(reservation.SAReadKeys)
	for i := 8; i+8 <= 8+int(binary.BigEndian.Uint32(d[4:8])) && i+8 <= len(d); i += 8 {
		keys = append(keys, binary.BigEndian.Uint64(d[i:i+8]))
	}
	d = prin(reservation.SAReadReservation)
	if binary.BigEndian.Uint32(d[4:8]) == 0 {
		return keys, 0, 0, false, tb
	}
	return keys, binary.BigEndian.Uint64(d[8:16]), d[21] & 0x0f, true, tb
}

// abandonedClear sets up A and B registered with APTPL=1, A holding a WRITE
// EXCLUSIVE reservation, and has A's CLEAR's save held until the LUN abandons
// it. It returns the held call, what PERSISTENT RESERVE IN reported before,
// and the last save before the CLEAR.
func abandonedClear(t *testing.T, h *prHarness, w *stateWriter) (*heldWrite, [4]string, stateWrite) {
	expectGood(t, "REGISTER A", h.do(prNexA, prout(reservation.SARegister, 0, 0, 0xA, 1)))
	expectGood(t, "REGISTER B", h.do(prNexB, prout(reservation.SARegister, 0, 0, 0xB, 1)))
	expectGood(t, "RESERVE A", h.do(prNexA, prout(reservation.SAReserve, reservation.TypeWriteExclusive, 0xA, 0, 0)))
	before := h.prState()
	saved := w.drain()
	if saved.err != nil || saved.data == nil {
		t.Fatalf("RESERVE under APTPL: save %q, %v", saved.data, saved.err)
	}
	w.hold()
	m := h.do(prNexA, prout(reservation.SAClear, 0, 0xA, 0, 0))
	se := scsi.CommandTimeout()
	expectCheck(t, "CLEAR whose save was abandoned", m, se.Key, se.ASC, se.ASCQ)
	held := w.heldCall(t)
	if after := h.prState(); after != before {
		t.Fatalf("reservations after the abandoned CLEAR:\n% x\nwant as before:\n% x", after, before)
	}
	return held, before, saved
}

// expectRestart checks what a restart brings back: keys and A's WRITE
// EXCLUSIVE reservation, so that B stays excluded from writing.
func expectRestart(t *testing.T, h *prHarness, what string, wantKeys []uint64) {
	t.Helper()
	keys, resKey, typ, reserved, tb := h.restartState()
	if !slices.Equal(keys, wantKeys) || !reserved || resKey != 0xA || typ != reservation.TypeWriteExclusive {
		t.Errorf("%s: a restart brings back keys %x, reservation %v (key %#x type %d); want keys %x and A's WRITE EXCLUSIVE reservation",
			what, keys, reserved, resKey, typ, wantKeys)
	}
	if !tb.Check(reservation.Nexus{ID: prNexB}, write10(0, 1, false)) { // true: RESERVATION CONFLICT
		t.Errorf("%s: after a restart B, which A's reservation excludes, may write", what)
	}
}

// TestAPTPLAbandonedSaveLandingLateIsUndone: a CLEAR whose save is abandoned
// after ioTimeout is answered ABORTED COMMAND and changes nothing (the table
// goes back, as for a failed save); its call, held as on a hung disk, then
// completes and lands the CLEAR's snapshot in the state file. The LUN must then
// save the reservations as they stand again: with APTPL the logical unit keeps
// the registrations and the reservation through a power loss (SPC-4 6.17.3), and
// those are the ones its answers established, since a PERSISTENT RESERVE OUT
// not completed successfully changes nothing (SPC-4 5.13.7 and 6.16.2 count only
// those that did). A restart that loaded the CLEAR would drop A's WRITE
// EXCLUSIVE reservation and every registration, and let B, which fencing
// relies on keeping out, write again.
func TestAPTPLAbandonedSaveLandingLateIsUndone(t *testing.T) {
	w := watchStateWrites(t)
	h := newPRHarness(t, backend.NewMemory(1<<20), func(c *Config) { c.IOTimeout = time.Second })
	held, before, saved := abandonedClear(t, h, w)

	held.release <- nil
	late := w.next(t, "the abandoned CLEAR's save")
	// It landed: it succeeded, and no snapshot newer than the last one saved
	// existed yet (WriteStateFile writes any newer one).
	if seq, regs := decodeSnapshot(t, late.data); late.err != nil || regs != 0 || seq <= seqOf(t, saved.data) {
		t.Fatalf("the abandoned CLEAR's save, released: seq %d, %d registrations, %v; want the CLEAR's snapshot, newer than %d, written",
			seq, regs, late.err, seqOf(t, saved.data))
	}
	w.settle()
	expectRestart(t, h, "after the abandoned CLEAR's save landed", []uint64{0xA, 0xB})
	if after := h.prState(); after != before {
		t.Errorf("reservations after the late save:\n% x\nwant as before:\n% x", after, before)
	}
}

// TestAPTPLResaveKeepsNewerChange: while the abandoned CLEAR's call is held,
// C registers with APTPL=1 and its save succeeds. When the CLEAR's call then
// returns (WriteStateFile skips its older snapshot), the LUN's save of the
// reservations as they stand must keep C's registration: C was answered GOOD,
// so a restart must bring it back (SPC-4 6.17.3), with A's reservation.
func TestAPTPLResaveKeepsNewerChange(t *testing.T) {
	w := watchStateWrites(t)
	h := newPRHarness(t, backend.NewMemory(1<<20), func(c *Config) { c.IOTimeout = time.Second })
	held, _, _ := abandonedClear(t, h, w)

	expectGood(t, "REGISTER C while the CLEAR's call is held", h.do(prNexC, prout(reservation.SARegister, 0, 0, 0xC, 1)))
	newer := w.next(t, "REGISTER C's save")
	if newer.err != nil {
		t.Fatal(newer.err)
	}
	held.release <- nil
	if late := w.next(t, "the abandoned CLEAR's save"); late.err != nil {
		t.Fatal(late.err)
	}
	later := w.settle()
	if len(later) == 0 {
		t.Fatal("no save after the abandoned CLEAR's call returned: this case tests no re-save")
	}
	for _, s := range later {
		if s.err != nil || seqOf(t, s.data) <= seqOf(t, newer.data) {
			t.Errorf("save after the CLEAR's call returned: seq %d (%v), want above C's %d, succeeded",
				seqOf(t, s.data), s.err, seqOf(t, newer.data))
		}
	}
	expectRestart(t, h, "after C registered and the abandoned CLEAR's call returned", []uint64{0xA, 0xB, 0xC})
}

// TestAPTPLResaveWaitsForUnsavedChange: the abandoned CLEAR's call lands its
// snapshot while C's REGISTER is being saved, and C's save then fails. The
// REGISTER was answered CHECK CONDITION, so it changed nothing (SPC-4 6.16.2
// counts only commands completed successfully); the CLEAR neither. A re-save
// taken while C's change was still unsaved would have written it; the one
// taken after must not, and must undo the CLEAR's.
func TestAPTPLResaveWaitsForUnsavedChange(t *testing.T) {
	w := watchStateWrites(t)
	h := newPRHarness(t, backend.NewMemory(1<<20), func(c *Config) { c.IOTimeout = 2 * time.Second })
	held, before, _ := abandonedClear(t, h, w)

	w.hold()
	reg := prout(reservation.SARegister, 0, 0, 0xC, 1)
	rtk := h.on(prNexC, reg.cdb, reg.data)
	h.send(rtk)
	heldReg := w.heldCall(t)
	held.release <- nil
	if late := w.next(t, "the abandoned CLEAR's save"); late.err != nil {
		t.Fatal(late.err)
	}
	time.Sleep(200 * time.Millisecond) // a re-save that did not wait would run now
	heldReg.release <- errors.New("injected: state file save failed")
	expectCheck(t, "REGISTER C whose save failed", h.wait(1)[rtk.Itt], scsi.SenseHardwareError, 0x44, 0x00)
	w.settle()
	expectRestart(t, h, "after the CLEAR's call landed and C's REGISTER failed", []uint64{0xA, 0xB})
	if after := h.prState(); after != before {
		t.Errorf("reservations after the failed REGISTER:\n% x\nwant as before:\n% x", after, before)
	}
}
