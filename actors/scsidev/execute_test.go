package scsidev

import (
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"github.com/atgt/atgt/actors/reservation"
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/scsi"
)

// TestCheckOrder runs a command from nexus "a" against every mix of the
// conditions Execute checks before a command, and wants the first one in
// SAM-5 order reported: not ready, then a unit attention, then a
// reservation conflict, then whatever the command itself says.
func TestCheckOrder(t *testing.T) {
	tur := []byte{scsi.OpTestUnitReady, 0, 0, 0, 0, 0}
	inquiry := []byte{scsi.OpInquiry, 0, 0, 0, 36, 0}
	unknown := []byte{0xC5, 0, 0, 0, 0, 0}
	reserve6 := []byte{scsi.OpReserve6, 0, 0, 0, 0, 0}
	const (
		good     = "good"
		notReady = "02/04/1b" // SANITIZE IN PROGRESS
		ua       = "06/29/03" // BUS DEVICE RESET FUNCTION OCCURRED
		conflict = "conflict"
		badOp    = "05/20/00" // INVALID COMMAND OPERATION CODE
		pastEnd  = "05/21/00" // LBA OUT OF RANGE
	)
	tests := []struct {
		name                      string
		sanitizing, pendingUA, rs bool
		noTable                   bool
		cdb                       []byte
		want                      string
		refused                   bool
	}{
		{"all three: not ready first", true, true, true, false, tur, notReady, true},
		{"ua and conflict: ua first", false, true, true, false, tur, ua, true},
		{"conflict alone", false, false, true, false, tur, conflict, true},
		{"nothing pending", false, false, false, false, tur, good, false},
		{"inquiry runs through all three", true, true, true, false, inquiry, good, false},
		{"not ready before an unknown opcode", true, false, false, false, unknown, notReady, true},
		{"ua before an unknown opcode", false, true, false, false, unknown, ua, true},
		{"conflict before an unknown opcode", false, false, true, false, unknown, conflict, true},
		{"unknown opcode is the command's answer", false, false, false, false, unknown, badOp, false},
		{"the command's own check comes last", false, false, false, false, cdb10(scsi.OpRead10, 0, 1000, 1), pastEnd, false},
		{"a reservation command's conflict is its answer", false, false, true, false, reserve6, conflict, false},
		{"ua before a reservation command", false, true, true, false, reserve6, ua, true},
		{"no table: no conflict", false, false, true, true, tur, good, false},
		{"no table: ua still first", false, true, true, true, tur, ua, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := ready(t, sanitizeConfig(false))
			rt := reservation.New()
			if tt.rs {
				// Nexus "b" takes its power-on UA, then reserves the LU.
				d.Execute(&Request{CDB: tur, Nexus: "b"}, rt)
				if r := d.Execute(&Request{CDB: reserve6, Nexus: "b"}, rt); r.Status != scsi.StatusGood {
					t.Fatalf("RESERVE(6) from b: %+v", r)
				}
			}
			if tt.sanitizing {
				// Without the table: a is not the reservation holder.
				if r := exec(d, sanitizeCDB(0x81, 8), overwriteList(1, []byte{1, 2, 3, 4})); r.IO.Kind != pb.IoKind_IO_KIND_SANITIZE_OVERWRITE {
					t.Fatalf("SANITIZE: %+v", r)
				}
			}
			if tt.pendingUA {
				d.AddUnitAttention("a", scsi.BusDeviceReset())
			}
			if tt.noTable {
				rt = nil
			}
			r := d.Execute(&Request{CDB: tt.cdb, Nexus: "a"}, rt)
			if got := outcome(r); got != tt.want || r.Refused != tt.refused {
				t.Fatalf("got %s refused %v, want %s refused %v", got, r.Refused, tt.want, tt.refused)
			}
		})
	}
}

// outcome names a result as TestCheckOrder's table does.
func outcome(r Result) string {
	switch r.Status {
	case scsi.StatusGood:
		return "good"
	case scsi.StatusReservationConflict:
		return "conflict"
	}
	k, a, q := senseOf(r)
	return fmt.Sprintf("%02x/%02x/%02x", k, a, q)
}

// TestNotReadyKeepsUnitAttention: a command refused NOT READY leaves the
// unit attention pending for the command after the sanitize.
func TestNotReadyKeepsUnitAttention(t *testing.T) {
	d := ready(t, sanitizeConfig(false))
	res := exec(d, sanitizeCDB(0x81, 8), overwriteList(1, []byte{1, 2, 3, 4}))
	d.AddUnitAttention("a", scsi.BusDeviceReset())
	tur := []byte{scsi.OpTestUnitReady, 0, 0, 0, 0, 0}
	if _, a, q := senseOf(exec(d, tur, nil)); a != 0x04 || q != 0x1B {
		t.Fatalf("while sanitizing: %02x/%02x", a, q)
	}
	d.IODone(res.IO.Token, nil)
	if _, a, q := senseOf(exec(d, tur, nil)); a != 0x29 || q != 0x03 {
		t.Fatalf("after the sanitize: %02x/%02x, want the unit attention", a, q)
	}
}

// proutRegister is PERSISTENT RESERVE OUT REGISTER with the 24-byte list.
func proutRegister(saKey uint64, aptpl bool) (cdb, param []byte) {
	cdb = make([]byte, 10)
	cdb[0] = scsi.OpPersistentReserveOut
	binary.BigEndian.PutUint32(cdb[5:9], 24)
	param = make([]byte, 24)
	binary.BigEndian.PutUint64(param[8:16], saKey)
	if aptpl {
		param[20] = 0x01
	}
	return cdb, param
}

// TestReservationCommandPlans: a reservation change that APTPL keeps is a
// PERSIST_RESERVATIONS plan answered GOOD once written, not medium IO; the
// unit attentions a reservation command raises reach the other nexuses, those
// of a change that APTPL keeps only once it is saved (SPC-4 5.13.11: a change
// whose save fails did not happen, and nobody is told of it).
func TestReservationCommandPlans(t *testing.T) {
	d := ready(t, testConfig())
	rt := reservation.New()
	tur := []byte{scsi.OpTestUnitReady, 0, 0, 0, 0, 0}
	d.Execute(&Request{CDB: tur, Nexus: "b"}, rt) // b's power-on UA

	cdb, param := proutRegister(1, false)
	if r := d.Execute(&Request{CDB: cdb, DataOut: param, Nexus: "a"}, rt); r.Status != scsi.StatusGood || r.IO.Kind != pb.IoKind_IO_KIND_UNSPECIFIED {
		t.Fatalf("REGISTER without APTPL: %+v", r)
	}
	cdb, param = proutRegister(2, true)
	r := d.Execute(&Request{CDB: cdb, DataOut: param, Nexus: "b"}, rt)
	if r.Status != scsi.StatusGood || r.IO.Kind != pb.IoKind_IO_KIND_PERSIST_RESERVATIONS || r.IO.Data == nil || r.Refused {
		t.Fatalf("REGISTER with APTPL: %+v", r)
	}
	if r.IO.Kind.Medium() || r.IO.Kind.Writes() {
		t.Fatal("persisting reservations must not be ordered as medium IO")
	}
	// a CLEARs with its key: b, registered too, learns of it from a UA.
	clearCDB := make([]byte, 10)
	clearCDB[0], clearCDB[1] = scsi.OpPersistentReserveOut, reservation.SAClear
	binary.BigEndian.PutUint32(clearCDB[5:9], 24)
	cp := make([]byte, 24)
	binary.BigEndian.PutUint64(cp[0:8], 1)
	runClear := func() Result {
		t.Helper()
		r := d.Execute(&Request{CDB: clearCDB, DataOut: cp, Nexus: "a"}, rt)
		if r.Status != scsi.StatusGood || r.IO.Kind != pb.IoKind_IO_KIND_PERSIST_RESERVATIONS || r.IO.Token == 0 {
			t.Fatalf("CLEAR: %+v", r)
		}
		return r
	}
	r = runClear()
	if r := d.Execute(&Request{CDB: tur, Nexus: "b"}, rt); r.Status != scsi.StatusGood {
		t.Fatalf("b told of a CLEAR not yet saved: % x", r.Sense)
	}
	d.IODone(r.IO.Token, scsi.InternalTargetFailure())
	rt.Saved(false)
	if r := d.Execute(&Request{CDB: tur, Nexus: "b"}, rt); r.Status != scsi.StatusGood {
		t.Fatalf("b told of a CLEAR whose save failed: % x", r.Sense)
	}
	r = runClear()
	d.IODone(r.IO.Token, nil)
	rt.Saved(true)
	if _, a, q := senseOf(d.Execute(&Request{CDB: tur, Nexus: "b"}, rt)); a != 0x2A || q != 0x03 {
		t.Fatalf("b after CLEAR: %02x/%02x, want RESERVATIONS PREEMPTED", a, q)
	}
}

// TestSanitizeFailedSparesStateFiles: after a failed SANITIZE only medium IO
// is refused; saving mode pages still works.
func TestSanitizeFailedSparesStateFiles(t *testing.T) {
	cfg := sanitizeConfig(false)
	cfg.SaveModes = true
	d := ready(t, cfg)
	res := exec(d, sanitizeCDB(0x01, 8), overwriteList(1, []byte{1, 2, 3, 4}))
	d.IODone(res.IO.Token, scsi.WriteError())
	if k, a, _ := senseOf(exec(d, cdb10(scsi.OpRead10, 0, 0, 1), nil)); k != scsi.SenseMediumError || a != 0x31 {
		t.Fatalf("READ after a failed sanitize: %x/%02x", k, a)
	}
	_, cur := senseCaching(t, d, pcCurrent)
	page := append([]byte(nil), cur.Data[4:]...)
	page[0] &^= 0x80
	c, list := modeSelect6(page)
	c[1] |= 0x01 // SP
	if r := exec(d, c, list); r.Status != scsi.StatusGood || r.IO.Kind != pb.IoKind_IO_KIND_SAVE_MODE_PAGES {
		t.Fatalf("MODE SELECT SP=1 after a failed sanitize: %+v", r)
	}
}

// TestCompleteIOSense: which sense a failed IO reports, by its kind and by
// what the error says.
func TestCompleteIOSense(t *testing.T) {
	eio := errors.New("eio")
	tests := []struct {
		kind pb.IoKind
		err  error
		want string
	}{
		{pb.IoKind_IO_KIND_READ, eio, "03/11/00"},
		{pb.IoKind_IO_KIND_VERIFY, eio, "03/11/00"},
		{pb.IoKind_IO_KIND_LBA_STATUS, eio, "03/11/00"},
		{pb.IoKind_IO_KIND_WRITE, eio, "03/0c/00"},
		{pb.IoKind_IO_KIND_COMPARE_AND_WRITE, eio, "03/0c/00"},
		{pb.IoKind_IO_KIND_COMPARE_AND_WRITE, &ReadError{Err: eio}, "03/11/00"},
		{pb.IoKind_IO_KIND_OR_WRITE, &ReadError{Err: eio}, "03/11/00"},
		{pb.IoKind_IO_KIND_OR_WRITE, fmt.Errorf("wrapped: %w", &ReadError{Err: eio}), "03/11/00"},
		{pb.IoKind_IO_KIND_COMPARE_AND_WRITE, &ReadError{Err: scsi.InternalTargetFailure()}, "04/44/00"},
		{pb.IoKind_IO_KIND_PERSIST_RESERVATIONS, eio, "04/44/00"},
		{pb.IoKind_IO_KIND_SAVE_MODE_PAGES, eio, "04/44/00"},
		{pb.IoKind_IO_KIND_COPY, scsi.CopyTargetNotReachable(), "0a/0d/02"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%v %v", tt.kind, tt.err), func(t *testing.T) {
			if got := outcome(CompleteIO(IO{Kind: tt.kind}, nil, tt.err)); got != tt.want {
				t.Fatalf("got %s, want %s", got, tt.want)
			}
		})
	}
}
