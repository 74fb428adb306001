package iscsi

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"testing"
)

var allOpcodes = []Opcode{
	OpNopOut, OpSCSICmd, OpTaskMgmtReq, OpLoginReq, OpTextReq, OpDataOut, OpLogoutReq, OpSNACKReq,
	OpNopIn, OpSCSIResp, OpTaskMgmtResp, OpLoginResp, OpTextResp, OpDataIn, OpLogoutResp, OpR2T,
	OpAsyncMsg, OpReject,
}

// samplePDU builds a PDU with recognisable header fields and a data segment of n bytes.
func samplePDU(op Opcode, n, ahs int) *PDU {
	p := &PDU{}
	p.BHS.SetOpcode(op)
	p.BHS.SetImmediate(op == OpNopOut)
	p.BHS.SetFinal(true)
	p.BHS.SetITT(0x1000 + uint32(op))
	p.BHS.SetLUN(0x0001000000000000)
	p.BHS.SetField32(24, 7)
	p.BHS.SetField32(28, 9)
	p.BHS.SetField32(36, 3)
	p.BHS.SetField32(40, 512)
	if n > 0 {
		p.Data = make([]byte, n)
		for i := range p.Data {
			p.Data[i] = byte(i*7 + int(op))
		}
	}
	if ahs > 0 {
		p.AHS = make([]byte, ahs)
		for i := range p.AHS {
			p.AHS[i] = byte(0xa0 + i)
		}
	}
	return p
}

func TestRoundTrip(t *testing.T) {
	digests := []struct{ hd, dd bool }{{false, false}, {true, false}, {false, true}, {true, true}}
	for _, op := range allOpcodes {
		for _, n := range []int{0, 1, 2, 3, 4, 5, 48, 8191} {
			for _, d := range digests {
				for _, ahs := range []int{0, 8} {
					want := samplePDU(op, n, ahs)
					wire := MarshalPDU(want, d.hd, d.dd)
					size := BHSLength + ahs + n + padLen(n)
					if d.hd {
						size += 4
					}
					if d.dd && n > 0 {
						size += 4
					}
					if len(wire) != size || len(wire)%4 != 0 {
						t.Fatalf("%v n=%d %+v: wire length %d, want %d", op, n, d, len(wire), size)
					}
					r := NewReader(bytes.NewReader(wire), 0)
					var got PDU
					lim := Limits{MaxRecvDataSegmentLength: 8192, HeaderDigest: d.hd, DataDigest: d.dd}
					if err := r.Read(lim, &got); err != nil {
						t.Fatalf("%v n=%d %+v: %v", op, n, d, err)
					}
					if got.BHS != want.BHS || !bytes.Equal(got.Data, want.Data) || !bytes.Equal(got.AHS, want.AHS) {
						t.Fatalf("%v n=%d %+v: got %v, want %v", op, n, d, &got, want)
					}
					if (n == 0) != (got.Data == nil) {
						t.Fatalf("%v n=%d: Data nil-ness wrong", op, n)
					}
					if err := r.Read(lim, &got); err != io.EOF {
						t.Fatalf("after last PDU: %v, want io.EOF", err)
					}
				}
			}
		}
	}
}

func TestGolden(t *testing.T) {
	login := &PDU{Data: AppendText(nil, KV{"HeaderDigest", "None"})}
	login.BHS.SetOpcode(OpLoginReq)
	login.BHS.SetImmediate(true)
	login.BHS.SetFlags(0x80 | 1<<2 | 3) // T, CSG=operational, NSG=full feature
	copy(login.BHS[8:14], []byte{0x00, 0x02, 0x3d, 0x00, 0x00, 0x01})
	login.BHS.SetITT(1)
	login.BHS.SetCmdSN(1)

	sense := []byte{0x70, 0, 0x05, 0, 0, 0, 0, 0x0a, 0, 0, 0, 0, 0x24, 0, 0, 0, 0, 0}
	resp := &PDU{Data: append([]byte{0, byte(len(sense))}, sense...)}
	resp.BHS.SetOpcode(OpSCSIResp)
	resp.BHS.SetFinal(true)
	resp.BHS.SetStatus(0x02)
	resp.BHS.SetITT(0x0a)
	resp.BHS.SetStatSN(5)
	resp.BHS.SetExpCmdSN(7)
	resp.BHS.SetMaxCmdSN(38)

	nop := &PDU{}
	nop.BHS.SetOpcode(OpNopIn)
	nop.BHS.SetFinal(true)
	nop.BHS.SetITT(0xffffffff)
	nop.BHS.SetTTT(0x42)

	tests := []struct {
		name   string
		p      *PDU
		hd, dd bool
		hex    string
	}{
		{"login request", login, false, false, "" +
			"43870000 00000012 00023d00 00010000" +
			"00000001 00000000 00000001 00000000" +
			"00000000 00000000 00000000 00000000" +
			"48656164 65724469 67657374 3d4e6f6e 65000000"},
		{"scsi response check condition", resp, false, false, "" +
			"21800002 00000014 00000000 00000000" +
			"0000000a 00000000 00000005 00000007" +
			"00000026 00000000 00000000 00000000" +
			"00127000 05000000 000a0000 00002400 00000000"},
		{"nop-in with header digest", nop, true, true, "" +
			"20800000 00000000 00000000 00000000" +
			"ffffffff 00000042 00000000 00000000" +
			"00000000 00000000 00000000 00000000" +
			"DIGEST"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantHex := tt.hex
			got := MarshalPDU(tt.p, tt.hd, tt.dd)
			if tt.hd {
				var d [4]byte
				putDigest(d[:], CRC32C(got[:BHSLength]))
				wantHex = wantHex[:len(wantHex)-len("DIGEST")] + hex.EncodeToString(d[:])
			}
			want := mustHex(t, wantHex)
			if !bytes.Equal(got, want) {
				t.Fatalf("wire:\n got %x\nwant %x", got, want)
			}
			var back PDU
			lim := Limits{MaxRecvDataSegmentLength: 8192, HeaderDigest: tt.hd, DataDigest: tt.dd}
			if err := NewReader(bytes.NewReader(want), 0).Read(lim, &back); err != nil {
				t.Fatal(err)
			}
			if back.BHS != tt.p.BHS || !bytes.Equal(back.Data, tt.p.Data) {
				t.Fatalf("decoded %v, want %v", &back, tt.p)
			}
		})
	}
}

// TestAppendPDUBuffers checks that the BHS is not copied and zero-length parts are skipped.
func TestAppendPDUBuffers(t *testing.T) {
	tests := []struct {
		name   string
		n, ahs int
		hd, dd bool
		parts  int
	}{
		{"header only", 0, 0, false, false, 1},
		{"header only, digests", 0, 0, true, true, 2},
		{"aligned data", 8, 0, false, false, 2},
		{"padded data", 5, 0, false, false, 3},
		{"everything", 5, 6, true, true, 1 + 2 + 1 + 2 + 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := samplePDU(OpDataIn, tt.n, tt.ahs)
			bufs := AppendPDU(nil, p, tt.hd, tt.dd)
			if len(bufs) != tt.parts {
				t.Fatalf("%d buffers, want %d", len(bufs), tt.parts)
			}
			if &bufs[0][0] != &p.BHS[0] {
				t.Fatal("BHS was copied")
			}
			if p.BHS.TotalAHSLength() != (tt.ahs+3)/4*4 || p.BHS.DataSegmentLength() != uint32(tt.n) {
				t.Fatalf("lengths not set: ahs %d dsl %d", p.BHS.TotalAHSLength(), p.BHS.DataSegmentLength())
			}
		})
	}
}

func TestOddAHSIsPadded(t *testing.T) {
	p := samplePDU(OpSCSICmd, 3, 6)
	wire := MarshalPDU(p, true, true)
	var got PDU
	err := NewReader(bytes.NewReader(wire), 0).Read(Limits{MaxRecvDataSegmentLength: 10, HeaderDigest: true, DataDigest: true}, &got)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.AHS) != 8 || !bytes.Equal(got.AHS[:6], p.AHS) || got.AHS[6] != 0 || got.AHS[7] != 0 {
		t.Fatalf("AHS = %x", got.AHS)
	}
}

func TestPDUString(t *testing.T) {
	for _, op := range append(allOpcodes, Opcode(0x3e)) {
		p := samplePDU(op, 3, 0)
		s := p.String()
		if len(s) == 0 || !bytes.Contains([]byte(s), []byte(op.String())) {
			t.Errorf("%v: String() = %q", op, s)
		}
	}
	p := samplePDU(OpSCSICmd, 0, 0)
	if want := "SCSI-Cmd F itt=0x1001 lun=0x1000000000000 cmdsn=7 edtl=0 cdb=0x00 data=0"; p.String() != want {
		t.Errorf("String() = %q, want %q", p.String(), want)
	}
	if s := Opcode(0x3e).String(); s != "Opcode(0x3e)" {
		t.Errorf("unknown opcode String() = %q", s)
	}
	var err error = &DataDigestError{ITT: 1}
	var dd *DataDigestError
	if !errors.As(err, &dd) || dd.Error() == "" {
		t.Error("DataDigestError")
	}
}
