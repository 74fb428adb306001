package iscsi

import (
	"bytes"
	"encoding/hex"
	"testing"
)

// TestCRC32CWireBytes checks the examples of RFC 7143 appendix B.4, written there as the
// digest's bytes in wire order.
func TestCRC32CWireBytes(t *testing.T) {
	inc := make([]byte, 32)
	dec := make([]byte, 32)
	ones := bytes.Repeat([]byte{0xff}, 32)
	for i := range inc {
		inc[i] = byte(i)
		dec[i] = byte(31 - i)
	}
	read10 := mustHex(t, ""+
		"01c00000 00000000 00000000 00000000"+
		"14000000 00000400 00000014 00000018"+
		"28000000 00000000 02000000 00000000")
	tests := []struct {
		name string
		in   []byte
		wire string
	}{
		{"32 zero bytes", make([]byte, 32), "aa36918a"},
		{"32 0xff bytes", ones, "43aba862"},
		{"incrementing", inc, "4e79dd46"},
		{"decrementing", dec, "5cdb3f11"},
		{"read10 BHS", read10, "563a96d9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b [4]byte
			putDigest(b[:], CRC32C(tt.in))
			if got := hex.EncodeToString(b[:]); got != tt.wire {
				t.Errorf("wire digest = %s, want %s", got, tt.wire)
			}
			// Split input gives the same digest.
			if CRC32C(tt.in[:7], tt.in[7:]) != CRC32C(tt.in) {
				t.Error("split CRC differs")
			}
		})
	}
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	s = string(bytes.Map(func(r rune) rune {
		if r == ' ' || r == '\n' || r == '\t' {
			return -1
		}
		return r
	}, []byte(s)))
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
