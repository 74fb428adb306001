package scsi

import (
	"encoding/binary"
	"testing"
)

func TestDecodeLUN(t *testing.T) {
	tests := []struct {
		raw  uint64
		lun  uint64
		ok   bool
		name string
	}{
		{0, 0, true, "lun 0"},
		{0x0001000000000000, 1, true, "peripheral 1"},
		{0x00ff000000000000, 255, true, "peripheral 255"},
		{0x4001000000000000, 1, true, "flat 1"},
		{0x4101000000000000, 257, true, "flat 257"},
		{0x7fff000000000000, 16383, true, "flat max"},
		{0x0101000000000000, 0, false, "bus id set"},
		{0x0001000100000000, 0, false, "second level"},
		{0x0000000000000001, 0, false, "low byte set"},
		{0x8001000000000000, 0, false, "logical unit addressing"},
		{0xc001000000000000, 0, false, "extended addressing"},
	}
	for _, tc := range tests {
		lun, ok := DecodeLUN(tc.raw)
		if ok != tc.ok || (ok && lun != tc.lun) {
			t.Errorf("%s: DecodeLUN(%#x) = %d,%v want %d,%v", tc.name, tc.raw, lun, ok, tc.lun, tc.ok)
		}
	}
}

// TestEncodeLUNGolden compares the 8 bytes on the wire with SAM-5 4.7.
func TestEncodeLUNGolden(t *testing.T) {
	tests := []struct {
		lun  uint64
		wire [8]byte
	}{
		{0, [8]byte{}},
		{1, [8]byte{0x00, 0x01}},
		{255, [8]byte{0x00, 0xff}},
		{256, [8]byte{0x41, 0x00}},
		{0x1234, [8]byte{0x52, 0x34}},
		{MaxLUN, [8]byte{0x7f, 0xff}},
		// Above MaxLUN the value is taken as already encoded.
		{0x8001_0000_0000_0000, [8]byte{0x80, 0x01}},
		{MaxLUN + 1, [8]byte{6: 0x40, 7: 0x00}},
	}
	for _, tc := range tests {
		var got [8]byte
		binary.BigEndian.PutUint64(got[:], EncodeLUN(tc.lun))
		if got != tc.wire {
			t.Errorf("EncodeLUN(%d) = % x, want % x", tc.lun, got, tc.wire)
		}
	}
}

// TestLUNRoundTrip: every LUN atgt can serve decodes to itself.
func TestLUNRoundTrip(t *testing.T) {
	for lun := uint64(0); lun <= MaxLUN; lun++ {
		if got, ok := DecodeLUN(EncodeLUN(lun)); !ok || got != lun {
			t.Fatalf("DecodeLUN(EncodeLUN(%d)) = %d,%v", lun, got, ok)
		}
	}
	if _, ok := DecodeLUN(EncodeLUN(MaxLUN + 1)); ok {
		t.Fatal("a LUN above MaxLUN decoded")
	}
}
