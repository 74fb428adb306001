package reservation

import (
	"testing"

	"github.com/atgt/atgt/messages/scsi"
)

// setup registers A with key 0xA and B with 0xB and has A reserve typ.
func setup(t *testing.T, typ uint8) *Table {
	t.Helper()
	tb := New()
	mustGood(t, prout(t, tb, nexusA, SARegisterAndIgnore, 0, 0, 0xA, 0), "register A")
	mustGood(t, prout(t, tb, nexusB, SARegisterAndIgnore, 0, 0, 0xB, 0), "register B")
	mustGood(t, prout(t, tb, nexusA, SAReserve, typ, 0xA, 0, 0), "reserve")
	return tb
}

// TestAccess mirrors libiscsi's ProutReserve.Access* and SPC-4 table 64:
// the holder reads and writes; registered and unregistered others as the
// type allows.
func TestAccess(t *testing.T) {
	tests := []struct {
		typ                                uint8
		regRead, regWrite, unRead, unWrite bool
	}{
		{TypeExclusiveAccess, false, false, false, false},
		{TypeWriteExclusive, true, false, true, false},
		{TypeExclusiveAccessRegistrantsOnly, true, true, false, false},
		{TypeWriteExclusiveRegistrantsOnly, true, true, true, false},
		{TypeExclusiveAccessAllRegistrants, true, true, false, false},
		{TypeWriteExclusiveAllRegistrants, true, true, true, false},
	}
	for _, tc := range tests {
		tb := setup(t, tc.typ)
		ok, key, typ := readReservation(t, tb, nexusA)
		wantKey := uint64(0xA)
		if allRegistrants(tc.typ) {
			wantKey = 0
		}
		if !ok || key != wantKey || typ != tc.typ {
			t.Errorf("type %d: READ RESERVATION %v %x %d", tc.typ, ok, key, typ)
		}
		check := func(who string, n Nexus, cdb []byte, want bool) {
			t.Helper()
			if got := !tb.Check(n, cdb); got != want {
				t.Errorf("type %d: %s %x allowed=%v, want %v", tc.typ, who, cdb[0], got, want)
			}
		}
		check("holder", nexusA, read10(), true)
		check("holder", nexusA, write10(), true)
		check("registered", nexusB, read10(), tc.regRead)
		check("registered", nexusB, write10(), tc.regWrite)
		check("unregistered", nexusC, read10(), tc.unRead)
		check("unregistered", nexusC, write10(), tc.unWrite)
		// B unregisters, as libiscsi does, and is now unregistered.
		mustGood(t, prout(t, tb, nexusB, SARegister, 0, 0xB, 0, 0), "unregister B")
		check("unregistered B", nexusB, read10(), tc.unRead)
		check("unregistered B", nexusB, write10(), tc.unWrite)
		mustGood(t, prout(t, tb, nexusA, SARelease, tc.typ, 0xA, 0, 0), "release")
		check("after release", nexusC, write10(), true)
	}
}

// TestOwnership mirrors ProutReserve.Ownership*: when the holder
// unregisters, its reservation goes, except an all-registrants one, which
// stays while anybody is registered and any registrant may release.
func TestOwnership(t *testing.T) {
	for _, typ := range allTypes {
		tb := setup(t, typ)
		out := prout(t, tb, nexusA, SARegister, 0, 0xA, 0, 0)
		mustGood(t, out, "unregister holder")
		ok, key, gotType := readReservation(t, tb, nexusA)
		if allRegistrants(typ) {
			if !ok || key != 0 || gotType != typ {
				t.Errorf("type %d: reservation %v %x %d after holder left, want kept", typ, ok, key, gotType)
			}
			mustGood(t, prout(t, tb, nexusB, SARelease, typ, 0xB, 0, 0), "release by B")
			if ok, _, _ := readReservation(t, tb, nexusA); ok {
				t.Errorf("type %d: still reserved after B released", typ)
			}
			if got := uaSet(out.UAs); len(got) != 0 {
				t.Errorf("type %d: unregister raised %v", typ, got)
			}
			continue
		}
		if ok {
			t.Errorf("type %d: still reserved after the holder unregistered", typ)
		}
		want := map[string]uint8{}
		if registrantsOnly(typ) {
			want[nexusB.ID] = 0x04 // RESERVATIONS RELEASED
		}
		if got := uaSet(out.UAs); len(got) != len(want) || got[nexusB.ID] != want[nexusB.ID] {
			t.Errorf("type %d: UAs %v, want %v", typ, got, want)
		}
	}
}

func TestReserve(t *testing.T) {
	tests := []struct {
		name   string
		who    Nexus
		scope  uint8
		typ    uint8
		key    uint64
		status uint8
		asc    uint8
	}{
		{"holder again, same type", nexusA, 0, TypeWriteExclusive, 0xA, scsi.StatusGood, 0},
		{"holder again, other type", nexusA, 0, TypeExclusiveAccess, 0xA, scsi.StatusReservationConflict, 0},
		{"other registrant", nexusB, 0, TypeWriteExclusive, 0xB, scsi.StatusReservationConflict, 0},
		{"wrong key", nexusA, 0, TypeWriteExclusive, 0xB, scsi.StatusReservationConflict, 0},
		{"unregistered", nexusC, 0, TypeWriteExclusive, 0, scsi.StatusReservationConflict, 0},
		{"bad scope", nexusA, 1, TypeWriteExclusive, 0xA, scsi.StatusCheckCondition, 0x24},
		{"bad type 2", nexusA, 0, 2, 0xA, scsi.StatusCheckCondition, 0x24},
		{"bad type 0", nexusA, 0, 0, 0xA, scsi.StatusCheckCondition, 0x24},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tb := setup(t, TypeWriteExclusive)
			g0, _ := readKeys(t, tb, nexusA)
			out := exec(t, tb, tc.who, proutCmd(SAReserve, tc.scope, tc.typ, 24), basicParams(tc.key, 0, 0))
			if out.Status != tc.status {
				t.Fatalf("status 0x%x (sense %x), want 0x%x", out.Status, out.Sense, tc.status)
			}
			if tc.asc != 0 {
				if _, asc, _ := senseOf(t, out); asc != tc.asc {
					t.Errorf("asc %02x, want %02x", asc, tc.asc)
				}
			}
			if g1, _ := readKeys(t, tb, nexusA); g1 != g0 {
				t.Errorf("RESERVE moved PRgeneration %d -> %d", g0, g1)
			}
			if ok, key, typ := readReservation(t, tb, nexusA); !ok || key != 0xA || typ != TypeWriteExclusive {
				t.Errorf("reservation changed: %v %x %d", ok, key, typ)
			}
		})
	}
}

func TestRelease(t *testing.T) {
	tests := []struct {
		name     string
		resType  uint8
		who      Nexus
		key      uint64
		scope    uint8
		typ      uint8
		status   uint8
		released bool
		uas      map[string]uint8
	}{
		{"holder", TypeWriteExclusive, nexusA, 0xA, 0, TypeWriteExclusive, scsi.StatusGood, true, nil},
		{"holder RO tells registrants", TypeExclusiveAccessRegistrantsOnly, nexusA, 0xA, 0, TypeExclusiveAccessRegistrantsOnly, scsi.StatusGood, true, map[string]uint8{nexusB.ID: 0x04}},
		{"AR by other registrant", TypeWriteExclusiveAllRegistrants, nexusB, 0xB, 0, TypeWriteExclusiveAllRegistrants, scsi.StatusGood, true, map[string]uint8{nexusA.ID: 0x04}},
		{"non-holder is a no-op", TypeWriteExclusive, nexusB, 0xB, 0, TypeWriteExclusive, scsi.StatusGood, false, nil},
		{"wrong type", TypeWriteExclusive, nexusA, 0xA, 0, TypeExclusiveAccess, scsi.StatusCheckCondition, false, nil},
		{"wrong scope", TypeWriteExclusive, nexusA, 0xA, 2, TypeWriteExclusive, scsi.StatusCheckCondition, false, nil},
		{"wrong key", TypeWriteExclusive, nexusA, 0xB, 0, TypeWriteExclusive, scsi.StatusReservationConflict, false, nil},
		{"unregistered", TypeWriteExclusive, nexusC, 0, 0, TypeWriteExclusive, scsi.StatusReservationConflict, false, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tb := setup(t, tc.resType)
			out := exec(t, tb, tc.who, proutCmd(SARelease, tc.scope, tc.typ, 24), basicParams(tc.key, 0, 0))
			if out.Status != tc.status {
				t.Fatalf("status 0x%x (sense %x), want 0x%x", out.Status, out.Sense, tc.status)
			}
			if out.Status == scsi.StatusCheckCondition {
				if k, asc, ascq := senseOf(t, out); k != scsi.SenseIllegalRequest || asc != 0x26 || ascq != 0x04 {
					t.Errorf("sense %x/%02x/%02x, want INVALID RELEASE OF PERSISTENT RESERVATION", k, asc, ascq)
				}
			}
			if ok, _, _ := readReservation(t, tb, nexusA); ok == tc.released {
				t.Errorf("reserved=%v, want released=%v", ok, tc.released)
			}
			got := uaSet(out.UAs)
			if len(got) != len(tc.uas) {
				t.Fatalf("UAs %v, want %v", got, tc.uas)
			}
			for n, q := range tc.uas {
				if got[n] != q {
					t.Errorf("UAs %v, want %v", got, tc.uas)
				}
			}
		})
	}
	t.Run("no reservation", func(t *testing.T) {
		tb := New()
		mustGood(t, prout(t, tb, nexusA, SARegister, 0, 0, 0xA, 0), "register")
		mustGood(t, prout(t, tb, nexusA, SARelease, TypeExclusiveAccess, 0xA, 0, 0), "release")
	})
}

func TestClear(t *testing.T) {
	tb := setup(t, TypeExclusiveAccessRegistrantsOnly)
	mustGood(t, prout(t, tb, nexusC, SARegister, 0, 0, 0xC, 0), "register C")
	if out := prout(t, tb, nexusB, SAClear, 0, 0xA, 0, 0); out.Status != scsi.StatusReservationConflict {
		t.Fatalf("CLEAR with another's key: status 0x%x", out.Status)
	}
	g0, _ := readKeys(t, tb, nexusA)
	out := prout(t, tb, nexusB, SAClear, 0, 0xB, 0, 0)
	mustGood(t, out, "clear")
	got := uaSet(out.UAs)
	if len(got) != 2 || got[nexusA.ID] != 0x03 || got[nexusC.ID] != 0x03 {
		t.Errorf("UAs %v, want RESERVATIONS PREEMPTED for A and C", got)
	}
	g1, keys := readKeys(t, tb, nexusA)
	if len(keys) != 0 || g1 != g0+1 {
		t.Errorf("after CLEAR keys %x generation %d (was %d)", keys, g1, g0)
	}
	if ok, _, _ := readReservation(t, tb, nexusA); ok {
		t.Error("still reserved after CLEAR")
	}
	if out := prout(t, tb, nexusB, SAClear, 0, 0xB, 0, 0); out.Status != scsi.StatusReservationConflict {
		t.Errorf("CLEAR when unregistered: status 0x%x", out.Status)
	}
}
