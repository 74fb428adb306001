package scsi

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

func TestAppendSense(t *testing.T) {
	tests := []struct {
		name string
		e    *SenseError
		want []byte
	}{
		{"nil is no sense", nil, []byte{0x70, 0, 0, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
		{"invalid opcode", InvalidOpcode(), []byte{0x70, 0, 5, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x20, 0, 0, 0, 0, 0}},
		{"field in cdb with bit", InvalidFieldInCDB(1, 7),
			[]byte{0x70, 0, 5, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x24, 0, 0, 0xCF, 0, 1}},
		{"field in cdb no bit", InvalidFieldInCDB(0x102, -1),
			[]byte{0x70, 0, 5, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x24, 0, 0, 0xC0, 1, 2}},
		{"field in param list", InvalidFieldInParamList(4, 2),
			[]byte{0x70, 0, 5, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x26, 0, 0, 0x8A, 0, 4}},
		{"miscompare info", Miscompare(0x01020304),
			[]byte{0xF0, 0, 0xE, 1, 2, 3, 4, 10, 0, 0, 0, 0, 0x1D, 0, 0, 0, 0, 0}},
		{"miscompare info too big", Miscompare(1 << 40),
			[]byte{0x70, 0, 0xE, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x1D, 0, 0, 0, 0, 0}},
		{"power on", PowerOnReset(), []byte{0x70, 0, 6, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x29, 0, 0, 0, 0, 0}},
		{"mode params changed", ModeParametersChanged(), []byte{0x70, 0, 6, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x2A, 1, 0, 0, 0, 0}},
		{"write protected", WriteProtected(), []byte{0x70, 0, 7, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x27, 0, 0, 0, 0, 0}},
		{"internal failure", InternalTargetFailure(), []byte{0x70, 0, 4, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x44, 0, 0, 0, 0, 0}},
		{"read error", UnrecoveredReadError(), []byte{0x70, 0, 3, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x11, 0, 0, 0, 0, 0}},
		// SPC-5 5.17.7.4 (as SPC-4): the failed segment's number in bytes 2-3 of
		// COMMAND-SPECIFIC INFORMATION; the segment pointer (4.5.2.4.5) with SD
		// (bit 5) clear counts from the parameter list, set from the segment.
		{"copy target of segment 258 failed", InSegment(CopyTargetNotReachable(), 0x0102, 48, false),
			[]byte{0x70, 0, 0xA, 0, 0, 0, 0, 10, 0, 0, 1, 2, 0x0D, 0x02, 0, 0x80, 0, 48}},
		{"field 20 of segment 3 in error", InSegment(CopyAborted(0, 0), 3, 20, true),
			[]byte{0x70, 0, 0xA, 0, 0, 0, 0, 10, 0, 0, 0, 3, 0, 0, 0, 0xA0, 0, 20}},
		{"segment 1 with no pointer", InSegment(WriteProtected(), 1, -1, false),
			[]byte{0x70, 0, 7, 0, 0, 0, 0, 10, 0, 0, 0, 1, 0x27, 0, 0, 0, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := AppendSense([]byte{0xAA}, tt.e)
			if got[0] != 0xAA || !bytes.Equal(got[1:], tt.want) {
				t.Fatalf("got % x\nwant % x", got[1:], tt.want)
			}
		})
	}
}

func TestSenseFromError(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		key, asc uint8
	}{
		{"sense", LBAOutOfRange(), SenseIllegalRequest, 0x21},
		{"wrapped", fmt.Errorf("ctx: %w", WriteProtected()), SenseDataProtect, 0x27},
		{"plain", errors.New("boom"), SenseHardwareError, 0x44},
		{"nil sense", (*SenseError)(nil), SenseHardwareError, 0x44},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			se := SenseFromError(tt.err)
			if se.Key != tt.key || se.ASC != tt.asc {
				t.Fatalf("got %v", se)
			}
		})
	}
}

// ParseSense reads back every field AppendSense writes, so that sense carried as
// bytes (a worker's answer, a copy's planned abort) keeps its segment number,
// residual and pointer.
func TestParseSense(t *testing.T) {
	residual := InSegment(WriteError(), 1, 16, false)
	residual.Key, residual.Info, residual.InfoValid = SenseCopyAborted, 952, true
	for _, e := range []*SenseError{
		InvalidFieldInCDB(1, 7), InvalidFieldInParamList(0x102, -1), Miscompare(0x01020304), PowerOnReset(),
		SanitizeInProgressAt(0x8000), InSegment(CopyTargetNotReachable(), 0x0102, 48, false),
		InSegment(CopyAborted(0, 0), 3, 20, true), residual,
	} {
		b := AppendSense(nil, e)
		got, ok := ParseSense(b)
		if !ok || *got != *e {
			t.Errorf("ParseSense(% x) = %+v, %v; want %+v", b, got, ok, e)
		}
	}
	for _, b := range [][]byte{nil, make([]byte, FixedSenseLen-1), {0x72, 5, 0x24, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}} {
		if _, ok := ParseSense(b); ok {
			t.Errorf("ParseSense(% x) ok, want not fixed-format sense", b)
		}
	}
}
