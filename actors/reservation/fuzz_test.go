package reservation

import (
	"math/rand"
	"testing"

	"github.com/atgt/atgt/messages/scsi"
)

var fuzzNexuses = []Nexus{nexusA, nexusB, nexusC}

// invariants checks what must hold whatever the initiators sent.
func invariants(t *testing.T, tb *Table) {
	t.Helper()
	seen := map[string]bool{}
	for _, r := range tb.regs {
		if r.key == 0 || seen[r.nexus] {
			t.Fatalf("bad registration %+v", *r)
		}
		seen[r.nexus] = true
	}
	if len(tb.regs) > MaxRegistrations {
		t.Fatalf("%d registrations", len(tb.regs))
	}
	if tb.res != nil {
		if !validType(tb.res.typ) {
			t.Fatalf("reservation type %d", tb.res.typ)
		}
		if allRegistrants(tb.res.typ) && len(tb.regs) == 0 || !allRegistrants(tb.res.typ) && !seen[tb.res.holder] {
			t.Fatalf("reservation %+v without its holder registered", *tb.res)
		}
	}
	if tb.legacy != "" && tb.hasPR() {
		t.Fatal("legacy and persistent reservations at once")
	}
}

// step runs one command built from data on tb, checking the outcome.
func step(t *testing.T, tb *Table, n Nexus, cdb, param []byte) {
	t.Helper()
	out, handled := tb.Execute(n, cdb, param)
	_ = tb.Check(n, cdb)
	if !handled {
		return
	}
	switch out.Status {
	case scsi.StatusGood, scsi.StatusReservationConflict:
	case scsi.StatusCheckCondition:
		if len(out.Sense) != scsi.FixedSenseLen {
			t.Fatalf("CHECK CONDITION with sense %x", out.Sense)
		}
	default:
		t.Fatalf("status 0x%x", out.Status)
	}
	if out.Persist != nil {
		if _, _, err := decodeState(out.Persist); err != nil {
			t.Fatalf("snapshot does not decode: %v", err)
		}
	}
	invariants(t, tb)
}

var fuzzOps = []byte{scsi.OpPersistentReserveOut, scsi.OpPersistentReserveOut, scsi.OpPersistentReserveOut,
	scsi.OpPersistentReserveIn, scsi.OpReserve6, scsi.OpRelease6, scsi.OpReserve10, scsi.OpRelease10, scsi.OpRead10}

// TestRandomCommands sends random, mostly well-formed reservation
// commands from three nexuses and checks nothing panics and the table
// stays consistent.
func TestRandomCommands(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	keys := []uint64{0, 0xA, 0xB, 0xC}
	for run := 0; run < 200; run++ {
		tb := New()
		for i := 0; i < 200; i++ {
			n := fuzzNexuses[rng.Intn(len(fuzzNexuses))]
			op := fuzzOps[rng.Intn(len(fuzzOps))]
			l := scsi.CDBLength(op)
			cdb := make([]byte, l)
			cdb[0] = op
			var param []byte
			switch op {
			case scsi.OpPersistentReserveOut:
				cdb[1] = byte(rng.Intn(9))
				cdb[2] = byte(rng.Intn(2)<<4*rng.Intn(2) | rng.Intn(9))
				param = basicParams(keys[rng.Intn(4)], keys[rng.Intn(4)], byte(rng.Intn(16)&^8))
				if cdb[1] == SARegisterAndMove {
					param = moveParams(keys[rng.Intn(4)], keys[rng.Intn(4)], byte(rng.Intn(4)), uint16(rng.Intn(2)), fuzzNexuses[rng.Intn(3)].ID)
				}
				if rng.Intn(20) == 0 {
					param = param[:rng.Intn(len(param)+1)]
				}
				cdb[8] = byte(len(param))
			case scsi.OpPersistentReserveIn:
				cdb[1] = byte(rng.Intn(6))
				cdb[8] = byte(rng.Intn(256))
			default:
				if rng.Intn(10) == 0 {
					cdb[1] = byte(rng.Intn(256))
				}
			}
			if rng.Intn(8) == 0 {
				tb.NexusLost(n)
			}
			if rng.Intn(50) == 0 {
				tb.Reset()
			}
			step(t, tb, n, cdb, param)
		}
	}
}

// FuzzExecute feeds arbitrary CDBs and parameter lists.
func FuzzExecute(f *testing.F) {
	f.Add(uint8(0), proutCmd(SARegister, 0, 0, 24), basicParams(0, 1, 0))
	f.Add(uint8(1), proutCmd(SARegisterAndMove, 0, 0, 60), moveParams(1, 2, 0, 1, nexusB.ID))
	f.Add(uint8(2), prinCDB(SAReadFullStatus, 0xFFFF), []byte(nil))
	f.Add(uint8(0), reserve6, []byte(nil))
	f.Fuzz(func(t *testing.T, who uint8, cdb, param []byte) {
		tb := New()
		// Some state first so every branch is reachable.
		step(t, tb, nexusA, proutCmd(SARegister, 0, 0, 24), basicParams(0, 0xA, 0))
		step(t, tb, nexusB, proutCmd(SARegister, 0, 0, 24), basicParams(0, 0xB, 0))
		step(t, tb, nexusA, proutCmd(SAReserve, 0, TypeWriteExclusive, 24), basicParams(0xA, 0, 0))
		n := fuzzNexuses[int(who)%len(fuzzNexuses)]
		step(t, tb, n, cdb, param)
		step(t, tb, n, prinCDB(SAReadFullStatus, 0xFFFF), nil)
	})
}

func FuzzParseTransportID(f *testing.F) {
	f.Add(encodeTransportID(nexusA.ID))
	f.Add([]byte{0x45, 0, 0, 20})
	f.Fuzz(func(t *testing.T, tid []byte) {
		if id, ok := parseTransportID(tid); ok {
			if again, ok := parseTransportID(encodeTransportID(id)); !ok || again != id {
				t.Fatalf("%q does not round trip: %q", id, again)
			}
		}
	})
}

func FuzzLoadState(f *testing.F) {
	tb := New()
	out, _ := tb.Execute(nexusA, proutCmd(SARegister, 0, 0, 24), basicParams(0, 1, 0x01))
	f.Add(out.Persist)
	f.Fuzz(func(t *testing.T, data []byte) {
		got, _, err := decodeState(data)
		if err != nil {
			return
		}
		invariants(t, got)
		if _, _, err := decodeState(got.snapshot()); err != nil {
			t.Fatalf("re-snapshot: %v", err)
		}
	})
}
