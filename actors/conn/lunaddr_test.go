package conn

import "testing"

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
		{0x4101000000000000, 257, true, "flat 257"},
		{0x7fff000000000000, 16383, true, "flat max"},
		{0x0101000000000000, 0, false, "bus id set"},
		{0x0001000100000000, 0, false, "second level"},
		{0x8001000000000000, 0, false, "logical unit addressing"},
		{0xc001000000000000, 0, false, "extended addressing"},
	}
	for _, tc := range tests {
		lun, ok := decodeLUN(tc.raw)
		if ok != tc.ok || (ok && lun != tc.lun) {
			t.Errorf("%s: decodeLUN(%#x) = %d,%v want %d,%v", tc.name, tc.raw, lun, ok, tc.lun, tc.ok)
		}
	}
}

func TestExtendedCDB(t *testing.T) {
	// AHS: length 17 (reserved byte + 16 CDB bytes beyond the BHS's 16), type 1.
	ahs := make([]byte, 20)
	ahs[0], ahs[1], ahs[2] = 0, 17, 1
	for i := 4; i < 20; i++ {
		ahs[i] = byte(i)
	}
	got := extendedCDB(ahs)
	if len(got) != 16 || got[0] != 4 || got[15] != 19 {
		t.Fatalf("extended CDB %v", got)
	}
	if extendedCDB([]byte{0, 200, 1, 0}) != nil {
		t.Fatal("overlong AHS accepted")
	}
	if extendedCDB([]byte{0, 5, 2, 0, 1, 2, 3, 4}) != nil {
		t.Fatal("non-CDB AHS type returned a CDB")
	}
	if extendedCDB(nil) != nil {
		t.Fatal("empty AHS returned a CDB")
	}
}
