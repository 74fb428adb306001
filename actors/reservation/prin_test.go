package reservation

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/atgt/atgt/messages/scsi"
)

// TestPrinServiceActionRange mirrors libiscsi's PrinServiceactionRange:
// service actions 0-3 succeed, 4-0x1F are refused.
func TestPrinServiceActionRange(t *testing.T) {
	tb := New()
	for sa := uint8(0); sa < 0x20; sa++ {
		out := exec(t, tb, nexusA, prinCDB(sa, 16384), nil)
		if (out.Status == scsi.StatusGood) != (sa < 4) {
			t.Errorf("SA 0x%x: status 0x%x", sa, out.Status)
		}
		if sa >= 4 {
			if k, asc, _ := senseOf(t, out); k != scsi.SenseIllegalRequest || asc != 0x24 {
				t.Errorf("SA 0x%x: sense %x/%02x", sa, k, asc)
			}
		}
	}
}

func TestReadKeysTruncate(t *testing.T) {
	tb := New()
	mustGood(t, prout(t, tb, nexusA, SARegisterAndIgnore, 0, 0, 0x1122334455667788, 0), "register")
	mustGood(t, prout(t, tb, nexusB, SARegisterAndIgnore, 0, 0, 0x99, 0), "register")
	tests := []struct {
		alloc uint16
		want  []byte
	}{
		{0, []byte{}},
		{4, []byte{0, 0, 0, 2}},
		{8, []byte{0, 0, 0, 2, 0, 0, 0, 16}},
		{12, []byte{0, 0, 0, 2, 0, 0, 0, 16, 0x11, 0x22, 0x33, 0x44}},
		{100, []byte{0, 0, 0, 2, 0, 0, 0, 16, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0, 0, 0, 0, 0, 0, 0, 0x99}},
	}
	for _, tc := range tests {
		out := exec(t, tb, nexusA, prinCDB(SAReadKeys, tc.alloc), nil)
		mustGood(t, out, "READ KEYS")
		if !bytes.Equal(out.Data, tc.want) {
			t.Errorf("alloc %d: %x, want %x", tc.alloc, out.Data, tc.want)
		}
	}
}

func TestReadReservation(t *testing.T) {
	tb := setup(t, TypeExclusiveAccessRegistrantsOnly)
	out := exec(t, tb, nexusB, prinCDB(SAReadReservation, 100), nil)
	mustGood(t, out, "READ RESERVATION")
	want := []byte{0, 0, 0, 2, 0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0xA, 0, 0, 0, 0, 0, 0x06, 0, 0}
	if !bytes.Equal(out.Data, want) {
		t.Errorf("%x, want %x", out.Data, want)
	}
}

func TestReportCapabilities(t *testing.T) {
	tb := New()
	out := exec(t, tb, nexusA, prinCDB(SAReportCapabilities, 100), nil)
	mustGood(t, out, "REPORT CAPABILITIES")
	want := []byte{0, 8, 0x15, 0xA0, 0xEA, 0x01, 0, 0}
	if !bytes.Equal(out.Data, want) {
		t.Errorf("%x, want %x", out.Data, want)
	}
	mustGood(t, prout(t, tb, nexusA, SARegister, 0, 0, 1, 0x01), "register with APTPL")
	out = exec(t, tb, nexusA, prinCDB(SAReportCapabilities, 100), nil)
	if out.Data[3]&0x01 == 0 {
		t.Errorf("PTPL_A clear with APTPL active: %x", out.Data)
	}
	if allow := out.Data[3] >> 4 & 7; allow > 5 {
		t.Errorf("ALLOW COMMANDS %d", allow)
	}
}

func TestReadFullStatus(t *testing.T) {
	tb := setup(t, TypeWriteExclusive)
	out := exec(t, tb, nexusA, prinCDB(SAReadFullStatus, 4096), nil)
	mustGood(t, out, "READ FULL STATUS")
	d := out.Data
	if binary.BigEndian.Uint32(d[4:8]) != uint32(len(d)-8) {
		t.Fatalf("additional length %d, data %d", binary.BigEndian.Uint32(d[4:8]), len(d))
	}
	type desc struct {
		key    uint64
		flags  byte
		typ    byte
		rtp    uint16
		nexus  string
		format byte
	}
	var got []desc
	for p := d[8:]; len(p) > 0; {
		if len(p) < 24 {
			t.Fatalf("short descriptor %x", p)
		}
		l := int(binary.BigEndian.Uint32(p[20:24]))
		tid := p[24 : 24+l]
		if l%4 != 0 || l < 24 {
			t.Errorf("TransportID length %d", l)
		}
		id, ok := parseTransportID(tid)
		if !ok {
			t.Errorf("TransportID %q does not parse", tid)
		}
		got = append(got, desc{binary.BigEndian.Uint64(p[0:8]), p[12], p[13], binary.BigEndian.Uint16(p[18:20]), id, tid[0]})
		p = p[24+l:]
	}
	want := []desc{
		{0xA, 0x01, TypeWriteExclusive, 1, nexusA.ID, 0x45},
		{0xB, 0x00, 0, 1, nexusB.ID, 0x45},
	}
	if len(got) != len(want) {
		t.Fatalf("descriptors %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("descriptor %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestTransportID(t *testing.T) {
	tid := encodeTransportID("iqn.a,i,0x0123456789AB")
	if id, ok := parseTransportID(tid); !ok || id != "iqn.a,i,0x0123456789ab" {
		t.Errorf("round trip: %q %v", id, ok)
	}
	if got := encodeTransportID("iqn.a")[0]; got != 0x05 {
		t.Errorf("device form byte 0 %x", got)
	}
	tests := []struct {
		name string
		tid  []byte
	}{
		{"empty", nil},
		{"FC protocol", append([]byte{0x40}, tid[1:]...)},
		{"device form", append([]byte{0x05}, tid[1:]...)},
		{"length beyond data", tid[:len(tid)-4]},
		{"no NUL", bytes.Repeat([]byte{'a'}, 24)},
		{"short ISID", encodeTransportID("iqn.a,i,0x0123")},
		{"bad hex", encodeTransportID("iqn.a,i,0x0123456789zz")},
		{"no name", encodeTransportID(",i,0x0123456789ab")},
	}
	for _, tc := range tests {
		if id, ok := parseTransportID(tc.tid); ok {
			t.Errorf("%s: parsed as %q", tc.name, id)
		}
	}
}
