package reservation

import (
	"testing"

	"github.com/atgt/atgt/messages/scsi"
)

var (
	reserve6   = []byte{scsi.OpReserve6, 0, 0, 0, 0, 0}
	release6   = []byte{scsi.OpRelease6, 0, 0, 0, 0, 0}
	reserve10  = []byte{scsi.OpReserve10, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	release10  = []byte{scsi.OpRelease10, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	modeSense6 = []byte{scsi.OpModeSense6, 0, 0x3F, 0, 0xFF, 0}
	inquiry    = []byte{scsi.OpInquiry, 0, 0, 0, 0xFF, 0}
	tur        = []byte{scsi.OpTestUnitReady, 0, 0, 0, 0, 0}
)

func status(t *testing.T, tb *Table, n Nexus, cdb []byte) uint8 {
	t.Helper()
	return exec(t, tb, n, cdb, nil).Status
}

// TestReserve6TwoInitiators follows libiscsi's Reserve6.2Initiators.
func TestReserve6TwoInitiators(t *testing.T) {
	tb := New()
	steps := []struct {
		what string
		n    Nexus
		cdb  []byte
		want uint8
	}{
		{"A reserves", nexusA, reserve6, scsi.StatusGood},
		{"A reserves again", nexusA, reserve6, scsi.StatusGood},
		{"B reserve conflicts", nexusB, reserve6, scsi.StatusReservationConflict},
		{"B release is a no-op", nexusB, release6, scsi.StatusGood},
		{"B reserve(10) still conflicts", nexusB, reserve10, scsi.StatusReservationConflict},
		{"A releases", nexusA, release6, scsi.StatusGood},
		{"B reserves", nexusB, reserve10, scsi.StatusGood},
		{"B releases", nexusB, release10, scsi.StatusGood},
		{"A reserves again", nexusA, reserve6, scsi.StatusGood},
	}
	for _, s := range steps {
		if got := status(t, tb, s.n, s.cdb); got != s.want {
			t.Fatalf("%s: status 0x%x, want 0x%x", s.what, got, s.want)
		}
	}
}

func TestLegacyCheck(t *testing.T) {
	tb := New()
	if status(t, tb, nexusA, reserve6) != scsi.StatusGood {
		t.Fatal("reserve")
	}
	tests := []struct {
		n    Nexus
		cdb  []byte
		want bool
	}{
		{nexusA, modeSense6, false},
		{nexusA, write10(), false},
		{nexusB, modeSense6, true},
		{nexusB, read10(), true},
		{nexusB, write10(), true},
		{nexusB, tur, true},
		{nexusB, inquiry, false},
		{nexusB, []byte{scsi.OpReportLUNs, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, false},
		{nexusB, []byte{scsi.OpRequestSense, 0, 0, 0, 18, 0}, false},
		{nexusB, release6, false},
		// SPC-2: PERSISTENT RESERVE IN/OUT conflict for everybody.
		{nexusA, prinCDB(SAReadKeys, 8), true},
		{nexusB, proutCmd(SARegister, 0, 0, 24), true},
	}
	for _, tc := range tests {
		if got := tb.Check(tc.n, tc.cdb); got != tc.want {
			t.Errorf("%s %x: conflict=%v, want %v", tc.n.ID[len(tc.n.ID)-4:], tc.cdb[0], got, tc.want)
		}
	}
	if st := status(t, tb, nexusA, prinCDB(SAReadKeys, 8)); st != scsi.StatusReservationConflict {
		t.Errorf("PRIN under RESERVE: 0x%x", st)
	}
}

func TestLegacyReleasedByNexusLossAndReset(t *testing.T) {
	for _, release := range []struct {
		name string
		f    func(*Table)
	}{
		{"nexus loss", func(tb *Table) { tb.NexusLost(nexusA) }},
		{"LUN reset", func(tb *Table) { tb.Reset() }},
	} {
		tb := New()
		status(t, tb, nexusA, reserve6)
		tb.NexusLost(nexusB) // someone else's loss changes nothing
		if status(t, tb, nexusB, reserve6) != scsi.StatusReservationConflict {
			t.Fatalf("%s: B could reserve before the release", release.name)
		}
		release.f(tb)
		if st := status(t, tb, nexusB, reserve6); st != scsi.StatusGood {
			t.Errorf("%s: B reserve after release: 0x%x", release.name, st)
		}
	}
}

// TestLegacyWithPersistent covers SPC-4 5.13.3: RESERVE and RELEASE are
// no-ops for members of a persistent reservation and conflict otherwise.
func TestLegacyWithPersistent(t *testing.T) {
	tb := New()
	mustGood(t, prout(t, tb, nexusA, SARegister, 0, 0, 0xA, 0), "register")
	if st := status(t, tb, nexusA, reserve6); st != scsi.StatusReservationConflict {
		t.Errorf("RESERVE with registrations only: 0x%x", st)
	}
	if st := status(t, tb, nexusB, release6); st != scsi.StatusReservationConflict {
		t.Errorf("RELEASE with registrations only: 0x%x", st)
	}
	mustGood(t, prout(t, tb, nexusB, SARegister, 0, 0, 0xB, 0), "register B")
	mustGood(t, prout(t, tb, nexusA, SAReserve, TypeWriteExclusiveRegistrantsOnly, 0xA, 0, 0), "reserve")
	for _, n := range []Nexus{nexusA, nexusB} {
		if st := status(t, tb, n, reserve6); st != scsi.StatusGood {
			t.Errorf("member RESERVE: 0x%x", st)
		}
		if st := status(t, tb, n, release10); st != scsi.StatusGood {
			t.Errorf("member RELEASE: 0x%x", st)
		}
	}
	if st := status(t, tb, nexusC, reserve6); st != scsi.StatusReservationConflict {
		t.Errorf("non-member RESERVE: 0x%x", st)
	}
	if tb.legacy != "" {
		t.Errorf("a RESERVE made a legacy reservation: %q", tb.legacy)
	}
	if ok, _, _ := readReservation(t, tb, nexusA); !ok {
		t.Error("member RELEASE released the persistent reservation")
	}
}

func TestLegacyCDBErrors(t *testing.T) {
	tests := []struct {
		cdb  []byte
		byte int
	}{
		{[]byte{scsi.OpReserve10, 0x10, 0, 0, 0, 0, 0, 0, 0, 0}, 1},
		{[]byte{scsi.OpRelease10, 0x02, 0, 0, 0, 0, 0, 0, 0, 0}, 1},
		{[]byte{scsi.OpReserve6, 0x01, 0, 0, 0, 0}, 1},
		{[]byte{scsi.OpReserve6, 0, 0}, 0},
		{[]byte{scsi.OpRelease6, 0, 0, 0, 0, 0x04}, 5},
	}
	for _, tc := range tests {
		tb := New()
		out := exec(t, tb, nexusA, tc.cdb, nil)
		if k, asc, _ := senseOf(t, out); k != scsi.SenseIllegalRequest || asc != 0x24 {
			t.Errorf("%x: sense %x/%02x", tc.cdb, k, asc)
		}
		if fp := int(out.Sense[16])<<8 | int(out.Sense[17]); fp != tc.byte {
			t.Errorf("%x: field pointer %d, want %d", tc.cdb, fp, tc.byte)
		}
		if tb.legacy != "" {
			t.Errorf("%x: reserved", tc.cdb)
		}
	}
}

func TestExecuteIgnoresOtherCommands(t *testing.T) {
	tb := New()
	for _, cdb := range [][]byte{nil, {}, read10(), write10(), inquiry, tur} {
		if _, handled := tb.Execute(nexusA, cdb, nil); handled {
			t.Errorf("%x handled", cdb)
		}
	}
}
