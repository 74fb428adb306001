package reservation

import (
	"encoding/binary"
	"slices"
	"testing"

	"github.com/atgt/atgt/messages/scsi"
)

func TestPreempt(t *testing.T) {
	tests := []struct {
		name    string
		resType uint8 // 0: no reservation
		sa      uint8
		who     Nexus
		key     uint64
		saKey   uint64
		typ     uint8
		status  uint8
		// after: holder nexus ("" none), its type, keys left
		holder string
		typAft uint8
		keys   []uint64
		uas    map[string]uint8
		abort  []string
	}{
		{name: "remove registration, no reservation (libiscsi RemoveRegistration)",
			sa: SAPreempt, who: nexusB, key: 0xB, saKey: 0xA, typ: TypeExclusiveAccess,
			status: scsi.StatusGood, keys: []uint64{0xB, 0xC}, uas: map[string]uint8{nexusA.ID: 0x05}},
		{name: "zero key without reservation",
			sa: SAPreempt, who: nexusB, key: 0xB, saKey: 0, typ: TypeExclusiveAccess,
			status: scsi.StatusCheckCondition, keys: []uint64{0xA, 0xB, 0xC}},
		{name: "unknown key conflicts",
			sa: SAPreempt, who: nexusB, key: 0xB, saKey: 0x77, typ: TypeExclusiveAccess,
			status: scsi.StatusReservationConflict, keys: []uint64{0xA, 0xB, 0xC}},
		{name: "unregistered issuer conflicts",
			sa: SAPreempt, who: Nexus{ID: "iqn.x,i,0x000000000009"}, key: 0, saKey: 0xA, typ: TypeExclusiveAccess,
			status: scsi.StatusReservationConflict, keys: []uint64{0xA, 0xB, 0xC}},
		{name: "preempt holder, same type", resType: TypeWriteExclusive,
			sa: SAPreempt, who: nexusB, key: 0xB, saKey: 0xA, typ: TypeWriteExclusive,
			status: scsi.StatusGood, holder: nexusB.ID, typAft: TypeWriteExclusive, keys: []uint64{0xB, 0xC},
			uas: map[string]uint8{nexusA.ID: 0x05}},
		{name: "preempt holder, new type tells the others", resType: TypeWriteExclusive,
			sa: SAPreempt, who: nexusB, key: 0xB, saKey: 0xA, typ: TypeExclusiveAccess,
			status: scsi.StatusGood, holder: nexusB.ID, typAft: TypeExclusiveAccess, keys: []uint64{0xB, 0xC},
			uas: map[string]uint8{nexusA.ID: 0x05, nexusC.ID: 0x04}},
		{name: "preempt holder with bad type", resType: TypeWriteExclusive,
			sa: SAPreempt, who: nexusB, key: 0xB, saKey: 0xA, typ: 4,
			status: scsi.StatusCheckCondition, holder: nexusA.ID, typAft: TypeWriteExclusive, keys: []uint64{0xA, 0xB, 0xC}},
		{name: "preempt non-holder keeps reservation", resType: TypeWriteExclusive,
			sa: SAPreempt, who: nexusB, key: 0xB, saKey: 0xC, typ: TypeExclusiveAccess,
			status: scsi.StatusGood, holder: nexusA.ID, typAft: TypeWriteExclusive, keys: []uint64{0xA, 0xB},
			uas: map[string]uint8{nexusC.ID: 0x05}},
		{name: "self preempt changes type", resType: TypeWriteExclusive,
			sa: SAPreempt, who: nexusA, key: 0xA, saKey: 0xA, typ: TypeExclusiveAccessRegistrantsOnly,
			status: scsi.StatusGood, holder: nexusA.ID, typAft: TypeExclusiveAccessRegistrantsOnly, keys: []uint64{0xA, 0xB, 0xC},
			uas: map[string]uint8{nexusB.ID: 0x04, nexusC.ID: 0x04}},
		{name: "all registrants, zero key takes over", resType: TypeWriteExclusiveAllRegistrants,
			sa: SAPreempt, who: nexusB, key: 0xB, saKey: 0, typ: TypeExclusiveAccess,
			status: scsi.StatusGood, holder: nexusB.ID, typAft: TypeExclusiveAccess, keys: []uint64{0xB},
			uas: map[string]uint8{nexusA.ID: 0x05, nexusC.ID: 0x05}},
		{name: "all registrants, key removes only that one", resType: TypeWriteExclusiveAllRegistrants,
			sa: SAPreempt, who: nexusB, key: 0xB, saKey: 0xC, typ: TypeExclusiveAccess,
			status: scsi.StatusGood, holder: "all", typAft: TypeWriteExclusiveAllRegistrants, keys: []uint64{0xA, 0xB},
			uas: map[string]uint8{nexusC.ID: 0x05}},
		{name: "preempt and abort", resType: TypeExclusiveAccess,
			sa: SAPreemptAndAbort, who: nexusB, key: 0xB, saKey: 0xA, typ: TypeExclusiveAccess,
			status: scsi.StatusGood, holder: nexusB.ID, typAft: TypeExclusiveAccess, keys: []uint64{0xB, 0xC},
			uas: map[string]uint8{nexusA.ID: 0x05}, abort: []string{nexusA.ID}},
		{name: "preempt and abort of registrations only",
			sa: SAPreemptAndAbort, who: nexusB, key: 0xB, saKey: 0xC, typ: TypeExclusiveAccess,
			status: scsi.StatusGood, keys: []uint64{0xA, 0xB},
			uas: map[string]uint8{nexusC.ID: 0x05}, abort: []string{nexusC.ID}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tb := New()
			for _, r := range []struct {
				n Nexus
				k uint64
			}{{nexusA, 0xA}, {nexusB, 0xB}, {nexusC, 0xC}} {
				mustGood(t, prout(t, tb, r.n, SARegisterAndIgnore, 0, 0, r.k, 0), "register")
			}
			if tc.resType != 0 {
				mustGood(t, prout(t, tb, nexusA, SAReserve, tc.resType, 0xA, 0, 0), "reserve")
			}
			g0, _ := readKeys(t, tb, nexusA)
			out := prout(t, tb, tc.who, tc.sa, tc.typ, tc.key, tc.saKey, 0)
			if out.Status != tc.status {
				t.Fatalf("status 0x%x (sense %x), want 0x%x", out.Status, out.Sense, tc.status)
			}
			g1, keys := readKeys(t, tb, nexusA)
			wantGen := g0
			if tc.status == scsi.StatusGood {
				wantGen++
			}
			if g1 != wantGen {
				t.Errorf("generation %d, want %d", g1, wantGen)
			}
			if !slices.Equal(keys, tc.keys) {
				t.Errorf("keys %x, want %x", keys, tc.keys)
			}
			switch {
			case tc.holder == "" && tb.res != nil:
				t.Errorf("reservation %+v, want none", *tb.res)
			case tc.holder == "all" && (tb.res == nil || tb.res.typ != tc.typAft):
				t.Errorf("reservation %+v, want all registrants type %d", tb.res, tc.typAft)
			case tc.holder != "" && tc.holder != "all" && (tb.res == nil || tb.res.holder != tc.holder || tb.res.typ != tc.typAft):
				t.Errorf("reservation %+v, want %s type %d", tb.res, tc.holder, tc.typAft)
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
			if !slices.Equal(out.Abort, tc.abort) {
				t.Errorf("abort %v, want %v", out.Abort, tc.abort)
			}
		})
	}
}

// moveParams builds a REGISTER AND MOVE parameter list naming dest.
func moveParams(key, saKey uint64, flags byte, rtp uint16, dest string) []byte {
	tid := encodeTransportID(dest)
	p := make([]byte, 24, 24+len(tid))
	binary.BigEndian.PutUint64(p[0:8], key)
	binary.BigEndian.PutUint64(p[8:16], saKey)
	p[17] = flags
	binary.BigEndian.PutUint16(p[18:20], rtp)
	binary.BigEndian.PutUint32(p[20:24], uint32(len(tid)))
	return append(p, tid...)
}

func TestRegisterAndMove(t *testing.T) {
	move := func(tb *Table, n Nexus, p []byte) Outcome {
		return exec(t, tb, n, proutCmd(SARegisterAndMove, 0, 0, uint32(len(p))), p)
	}
	t.Run("moves to a new nexus and unregisters", func(t *testing.T) {
		tb := setup(t, TypeExclusiveAccess)
		g0, _ := readKeys(t, tb, nexusA)
		out := move(tb, nexusA, moveParams(0xA, 0xCC, 0x02, 1, nexusC.ID))
		mustGood(t, out, "move")
		if tb.res == nil || tb.res.holder != nexusC.ID || tb.res.typ != TypeExclusiveAccess {
			t.Fatalf("reservation %+v, want C", tb.res)
		}
		g1, keys := readKeys(t, tb, nexusC)
		if g1 != g0+1 || !slices.Equal(keys, []uint64{0xB, 0xCC}) {
			t.Errorf("generation %d (was %d), keys %x", g1, g0, keys)
		}
		if ok, key, _ := readReservation(t, tb, nexusC); !ok || key != 0xCC {
			t.Errorf("READ RESERVATION key %x", key)
		}
		if tb.Check(nexusC, write10()) || !tb.Check(nexusA, read10()) {
			t.Error("access does not follow the move")
		}
	})
	t.Run("already registered destination keeps its key", func(t *testing.T) {
		tb := setup(t, TypeWriteExclusive)
		mustGood(t, move(tb, nexusA, moveParams(0xA, 0xCC, 0, 1, nexusB.ID)), "move")
		if _, keys := readKeys(t, tb, nexusA); !slices.Equal(keys, []uint64{0xA, 0xB}) {
			t.Errorf("keys %x", keys)
		}
		if ok, key, _ := readReservation(t, tb, nexusA); !ok || key != 0xB {
			t.Errorf("READ RESERVATION key %x, want 0xb", key)
		}
	})
	bad := append(moveParams(0xA, 0xCC, 0, 1, nexusC.ID), 0)
	bad[24] = 0x05 // device-name form: no ISID, no I_T nexus
	tests := []struct {
		name    string
		resType uint8
		who     Nexus
		param   []byte
		plen    int
		status  uint8
		asc     uint8
	}{
		{"not the holder", TypeWriteExclusive, nexusB, moveParams(0xB, 0xCC, 0, 1, nexusC.ID), -1, scsi.StatusReservationConflict, 0},
		{"wrong key", TypeWriteExclusive, nexusA, moveParams(0xB, 0xCC, 0, 1, nexusC.ID), -1, scsi.StatusReservationConflict, 0},
		{"all registrants", TypeWriteExclusiveAllRegistrants, nexusA, moveParams(0xA, 0xCC, 0, 1, nexusC.ID), -1, scsi.StatusReservationConflict, 0},
		{"no reservation", 0, nexusA, moveParams(0xA, 0xCC, 0, 1, nexusC.ID), -1, scsi.StatusReservationConflict, 0},
		{"zero service action key", TypeWriteExclusive, nexusA, moveParams(0xA, 0, 0, 1, nexusC.ID), -1, scsi.StatusCheckCondition, 0x26},
		{"to itself", TypeWriteExclusive, nexusA, moveParams(0xA, 0xCC, 0, 1, nexusA.ID), -1, scsi.StatusCheckCondition, 0x26},
		{"device-name TransportID", TypeWriteExclusive, nexusA, bad, -1, scsi.StatusCheckCondition, 0x26},
		{"relative port 0", TypeWriteExclusive, nexusA, moveParams(0xA, 0xCC, 0, 0, nexusC.ID), -1, scsi.StatusCheckCondition, 0x26},
		{"TransportID beyond the list", TypeWriteExclusive, nexusA, moveParams(0xA, 0xCC, 0, 1, nexusC.ID), 30, scsi.StatusCheckCondition, 0x1A},
		{"list shorter than 24", TypeWriteExclusive, nexusA, moveParams(0xA, 0xCC, 0, 1, nexusC.ID), 20, scsi.StatusCheckCondition, 0x1A},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tb := New()
			mustGood(t, prout(t, tb, nexusA, SARegisterAndIgnore, 0, 0, 0xA, 0), "register A")
			mustGood(t, prout(t, tb, nexusB, SARegisterAndIgnore, 0, 0, 0xB, 0), "register B")
			if tc.resType != 0 {
				mustGood(t, prout(t, tb, nexusA, SAReserve, tc.resType, 0xA, 0, 0), "reserve")
			}
			plen := len(tc.param)
			if tc.plen >= 0 {
				plen = tc.plen
			}
			out := exec(t, tb, tc.who, proutCmd(SARegisterAndMove, 0, 0, uint32(plen)), tc.param)
			if out.Status != tc.status {
				t.Fatalf("status 0x%x (sense %x), want 0x%x", out.Status, out.Sense, tc.status)
			}
			if tc.asc != 0 {
				if _, asc, _ := senseOf(t, out); asc != tc.asc {
					t.Errorf("asc %02x, want %02x", asc, tc.asc)
				}
			}
			if tb.find(nexusC.ID) != nil {
				t.Error("refused move registered the destination")
			}
		})
	}
}
