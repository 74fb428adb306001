package iscsi

import "testing"

func TestBHSAccessors(t *testing.T) {
	type field struct {
		name string
		get  func(*BHS) uint32
		set  func(*BHS, uint32)
		off  int
	}
	fields := []field{
		{"ITT", (*BHS).ITT, (*BHS).SetITT, 16},
		{"TTT", (*BHS).TTT, (*BHS).SetTTT, 20},
		{"RefTaskTag", (*BHS).ReferencedTaskTag, (*BHS).SetReferencedTaskTag, 20},
		{"EDTL", (*BHS).ExpectedDataTransferLength, (*BHS).SetExpectedDataTransferLength, 20},
		{"CmdSN", (*BHS).CmdSN, (*BHS).SetCmdSN, 24},
		{"StatSN", (*BHS).StatSN, (*BHS).SetStatSN, 24},
		{"ExpStatSN", (*BHS).ExpStatSN, (*BHS).SetExpStatSN, 28},
		{"ExpCmdSN", (*BHS).ExpCmdSN, (*BHS).SetExpCmdSN, 28},
		{"MaxCmdSN", (*BHS).MaxCmdSN, (*BHS).SetMaxCmdSN, 32},
		{"RefCmdSN", (*BHS).RefCmdSN, (*BHS).SetRefCmdSN, 32},
		{"DataSN", (*BHS).DataSN, (*BHS).SetDataSN, 36},
		{"R2TSN", (*BHS).R2TSN, (*BHS).SetR2TSN, 36},
		{"ExpDataSN", (*BHS).ExpDataSN, (*BHS).SetExpDataSN, 36},
		{"BufferOffset", (*BHS).BufferOffset, (*BHS).SetBufferOffset, 40},
		{"BidiReadResidualCount", (*BHS).BidiReadResidualCount, (*BHS).SetBidiReadResidualCount, 40},
		{"ResidualCount", (*BHS).ResidualCount, (*BHS).SetResidualCount, 44},
		{"DDTL", (*BHS).DesiredDataTransferLength, (*BHS).SetDesiredDataTransferLength, 44},
	}
	for _, f := range fields {
		t.Run(f.name, func(t *testing.T) {
			var h BHS
			f.set(&h, 0x01020304)
			if h[f.off] != 1 || h[f.off+3] != 4 || f.get(&h) != 0x01020304 || h.Field32(f.off) != 0x01020304 {
				t.Fatalf("field at %d: % x", f.off, h)
			}
		})
	}
}

func TestBHSBits(t *testing.T) {
	var h BHS
	h.SetOpcode(OpLoginReq)
	h.SetImmediate(true)
	h.SetFinal(true)
	h.SetFlags(h.Flags() | 0x07)
	h.SetResponse(0x11)
	h.SetStatus(0x22)
	h.SetDataSegmentLength(0x123456)
	h.SetLUN(0x0102030405060708)
	h.SetField16(14, 0xbeef)
	h.SetTotalAHSLength(5)
	if h[0] != 0x43 || h[1] != 0x87 || h[2] != 0x11 || h[3] != 0x22 || h[4] != 2 ||
		h[5] != 0x12 || h[6] != 0x34 || h[7] != 0x56 || h[8] != 1 || h[14] != 0xbe {
		t.Fatalf("% x", h)
	}
	if h.Opcode() != OpLoginReq || !h.Immediate() || !h.Final() || h.TotalAHSLength() != 8 ||
		h.DataSegmentLength() != 0x123456 || h.Field16(14) != 0xbeef || h.LUN()&0xffff != 0xbeef {
		t.Fatal("getters disagree")
	}
	h.SetImmediate(false)
	h.SetFinal(false)
	h.SetOpcode(OpTextReq)
	if h[0] != 0x04 || h[1] != 0x07 {
		t.Fatalf("clear: % x", h[:2])
	}
	// Out-of-range offsets neither panic nor write.
	h.SetField32(46, 1)
	h.SetField16(-1, 1)
	if h.Field32(45) != 0 || h.Field16(47) != 0 || h.Field32(-4) != 0 {
		t.Fatal("out-of-range read")
	}
	copy(h.CDB(), []byte{0x28})
	if h[32] != 0x28 {
		t.Fatal("CDB does not alias")
	}
	h.Reset()
	if h != (BHS{}) {
		t.Fatal("Reset")
	}
}

func TestNewReject(t *testing.T) {
	tests := []struct {
		reason uint8
		bad    *BHS
	}{
		{RejectProtocolError, &BHS{0x01, 0x80}},
		{RejectCommandNotSupported, nil},
	}
	for _, tt := range tests {
		p := NewReject(tt.reason, tt.bad)
		h := &p.BHS
		if h.Opcode() != OpReject || !h.Final() || h.Response() != tt.reason || h.ITT() != 0xffffffff || len(p.Data) != BHSLength {
			t.Fatalf("reject %v", p)
		}
		if tt.bad != nil && p.Data[0] != tt.bad[0] {
			t.Fatal("rejected header not carried")
		}
	}
}
