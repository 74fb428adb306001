package scsi

import (
	"errors"
	"math/rand"
	"testing"
)

func TestCDBLength(t *testing.T) {
	tests := []struct {
		op   byte
		want int
	}{
		{OpTestUnitReady, 6}, {OpRead6, 6}, {OpRead10, 10}, {OpModeSense10, 10},
		{OpVariableLength, 0}, {OpRead16, 16}, {OpServiceActionIn16, 16},
		{OpReportLUNs, 12}, {OpRead12, 12}, {0xC0, 0}, {0xFF, 0},
	}
	for _, tt := range tests {
		if got := CDBLength(tt.op); got != tt.want {
			t.Errorf("CDBLength(%#x) = %d, want %d", tt.op, got, tt.want)
		}
	}
}

func TestParseRW(t *testing.T) {
	tests := []struct {
		name    string
		cdb     []byte
		want    RW
		wantASC uint8 // 0: no error
	}{
		{"read6", []byte{OpRead6, 0x1F, 0xFF, 0xFE, 8, 0}, RW{LBA: 0x1FFFFE, Blocks: 8}, 0},
		{"read6 zero is 256", []byte{OpRead6, 0, 0, 1, 0, 0}, RW{LBA: 1, Blocks: 256}, 0},
		{"write6", []byte{OpWrite6, 0, 0, 2, 3, 0}, RW{LBA: 2, Blocks: 3}, 0},
		{"read10 dpo fua", []byte{OpRead10, 0x18, 0, 0, 1, 0, 0, 0, 9, 0}, RW{LBA: 256, Blocks: 9, FUA: true, DPO: true}, 0},
		{"read10 fua_nv ignored", []byte{OpRead10, 0x02, 0, 0, 0, 1, 0, 0, 1, 0}, RW{LBA: 1, Blocks: 1}, 0},
		{"read10 rdprotect", []byte{OpRead10, 0x20, 0, 0, 0, 0, 0, 0, 1, 0}, RW{}, 0x24},
		{"write12", []byte{OpWrite12, 0x08, 0, 0, 0, 5, 0, 1, 0, 0, 0, 0}, RW{LBA: 5, Blocks: 65536, FUA: true}, 0},
		{"read16", []byte{OpRead16, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 1, 0, 0},
			RW{LBA: ^uint64(0), Blocks: 1}, 0},
		{"write16 wrprotect", []byte{OpWrite16, 0xE0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0}, RW{}, 0x24},
		{"verify10 bytchk", []byte{OpVerify10, 0x12, 0, 0, 0, 7, 0, 0, 2, 0}, RW{LBA: 7, Blocks: 2, BytChk: 1, DPO: true}, 0},
		{"verify10 bytchk 2", []byte{OpVerify10, 0x04, 0, 0, 0, 7, 0, 0, 2, 0}, RW{}, 0x24},
		{"verify16 vrprotect", []byte{OpVerify16, 0x40, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0}, RW{}, 0x24},
		{"verify has no fua", []byte{OpVerify12, 0x08, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0}, RW{Blocks: 1}, 0},
		{"write and verify", []byte{OpWriteAndVerify10, 0x02, 0, 0, 0, 0, 0, 0, 1, 0}, RW{Blocks: 1, BytChk: 1}, 0},
		{"write and verify bytchk 10b reserved", []byte{OpWriteAndVerify10, 0x04, 0, 0, 0, 0, 0, 0, 1, 0}, RW{}, 0x24},
		{"short cdb", []byte{OpRead10, 0, 0}, RW{}, 0x24},
		{"not rw", []byte{OpInquiry, 0, 0, 0, 0, 0}, RW{}, 0x20},
		{"empty", nil, RW{}, 0x20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRW(tt.cdb)
			if tt.wantASC != 0 {
				var se *SenseError
				if !errors.As(err, &se) || se.ASC != tt.wantASC {
					t.Fatalf("err = %v, want asc %#x", err, tt.wantASC)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestParseRWRandomNeverPanics(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 100000; i++ {
		cdb := make([]byte, rng.Intn(20))
		rng.Read(cdb)
		_, _ = ParseRW(cdb)
	}
}

func TestCommandsTable(t *testing.T) {
	for op, c := range Commands {
		if c.Supported && c.Name == "" {
			t.Errorf("opcode %#x supported without a name", op)
		}
		if c.Name != "" && CDBLength(byte(op)) == 0 {
			t.Errorf("opcode %#x (%s) has no CDB length", op, c.Name)
		}
	}
	for _, op := range []byte{OpInquiry, OpReportLUNs, OpRequestSense} {
		if !Commands[op].AllowedWithUA {
			t.Errorf("%s must be allowed with UA", Commands[op].Name)
		}
	}
}
