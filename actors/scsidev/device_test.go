package scsidev

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand"
	"testing"

	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/scsi"
)

func testConfig() Config {
	return Config{
		SerialNumber: "SN1",
		NAA:          0x3123456789ABCDEF,
		Blocks:       1000,
		WriteCache:   true,
		TargetName:   "iqn.2024-01.test:t",
		LUN:          0,
	}
}

// ready returns a device on which nexus "a" has consumed its power-on UA.
func ready(t *testing.T, cfg Config) *Device {
	t.Helper()
	d := New(cfg)
	r := d.Execute(&Request{CDB: []byte{scsi.OpTestUnitReady, 0, 0, 0, 0, 0}, Nexus: "a"}, nil)
	if r.Status != scsi.StatusCheckCondition || r.Sense[12] != 0x29 {
		t.Fatalf("first command: want POWER ON UA, got %+v", r)
	}
	return d
}

func exec(d *Device, cdb []byte, out []byte) Result {
	return d.Execute(&Request{CDB: cdb, DataOut: out, Nexus: "a"}, nil)
}

// senseOf returns key/asc/ascq of a CHECK CONDITION result.
func senseOf(r Result) (uint8, uint8, uint8) {
	if r.Status != scsi.StatusCheckCondition || len(r.Sense) < 14 {
		return 0xFF, 0xFF, 0xFF
	}
	return r.Sense[2] & 0xF, r.Sense[12], r.Sense[13]
}

func cdb10(op byte, b1 byte, lba uint32, n uint16) []byte {
	c := make([]byte, 10)
	c[0], c[1] = op, b1
	binary.BigEndian.PutUint32(c[2:], lba)
	binary.BigEndian.PutUint16(c[7:], n)
	return c
}

func cdb16(op byte, b1 byte, lba uint64, n uint32) []byte {
	c := make([]byte, 16)
	c[0], c[1] = op, b1
	binary.BigEndian.PutUint64(c[2:], lba)
	binary.BigEndian.PutUint32(c[10:], n)
	return c
}

func TestCommandStatus(t *testing.T) {
	blk := make([]byte, 512)
	tests := []struct {
		name     string
		cdb      []byte
		out      []byte
		key, asc uint8 // key 0 and asc 0: GOOD
		io       pb.IoKind
		dataLen  int // -1: don't check
	}{
		{"tur", []byte{0, 0, 0, 0, 0, 0}, nil, 0, 0, pb.IoKind_IO_KIND_UNSPECIFIED, 0},
		{"unknown opcode", []byte{0xC5, 0, 0, 0, 0, 0}, nil, 5, 0x20, pb.IoKind_IO_KIND_UNSPECIFIED, 0},
		{"unsupported opcode", []byte{scsi.OpUnmap, 0, 0, 0, 0, 0, 0, 0, 0, 0}, nil, 5, 0x20, pb.IoKind_IO_KIND_UNSPECIFIED, 0},
		{"short cdb", []byte{scsi.OpRead10, 0, 0}, nil, 5, 0x24, pb.IoKind_IO_KIND_UNSPECIFIED, 0},
		{"naca", []byte{0, 0, 0, 0, 0, 0x04}, nil, 5, 0x24, pb.IoKind_IO_KIND_UNSPECIFIED, 0},
		{"inquiry std alloc 36", []byte{scsi.OpInquiry, 0, 0, 0, 36, 0}, nil, 0, 0, pb.IoKind_IO_KIND_UNSPECIFIED, 36},
		{"inquiry std alloc 0", []byte{scsi.OpInquiry, 0, 0, 0, 0, 0}, nil, 0, 0, pb.IoKind_IO_KIND_UNSPECIFIED, 0},
		{"inquiry std 260", []byte{scsi.OpInquiry, 0, 0, 1, 4, 0}, nil, 0, 0, pb.IoKind_IO_KIND_UNSPECIFIED, 96},
		{"inquiry evpd0 page1", []byte{scsi.OpInquiry, 0, 1, 1, 0, 0}, nil, 5, 0x24, pb.IoKind_IO_KIND_UNSPECIFIED, 0},
		{"inquiry cmddt", []byte{scsi.OpInquiry, 2, 0, 1, 0, 0}, nil, 5, 0x24, pb.IoKind_IO_KIND_UNSPECIFIED, 0},
		{"vpd 00", []byte{scsi.OpInquiry, 1, 0, 0, 255, 0}, nil, 0, 0, pb.IoKind_IO_KIND_UNSPECIFIED, 11},
		{"vpd 80", []byte{scsi.OpInquiry, 1, 0x80, 0, 255, 0}, nil, 0, 0, pb.IoKind_IO_KIND_UNSPECIFIED, 7},
		{"vpd b0", []byte{scsi.OpInquiry, 1, 0xB0, 0, 255, 0}, nil, 0, 0, pb.IoKind_IO_KIND_UNSPECIFIED, 64},
		{"vpd b1", []byte{scsi.OpInquiry, 1, 0xB1, 0, 255, 0}, nil, 0, 0, pb.IoKind_IO_KIND_UNSPECIFIED, 64},
		{"vpd b2", []byte{scsi.OpInquiry, 1, 0xB2, 0, 255, 0}, nil, 0, 0, pb.IoKind_IO_KIND_UNSPECIFIED, 8},
		{"vpd unknown", []byte{scsi.OpInquiry, 1, 0x87, 0, 255, 0}, nil, 5, 0x24, pb.IoKind_IO_KIND_UNSPECIFIED, 0},
		{"report luns", []byte{scsi.OpReportLUNs, 0, 0, 0, 0, 0, 0, 0, 0, 16, 0, 0}, nil, 0, 0, pb.IoKind_IO_KIND_UNSPECIFIED, 16},
		{"report luns alloc 15", []byte{scsi.OpReportLUNs, 0, 0, 0, 0, 0, 0, 0, 0, 15, 0, 0}, nil, 5, 0x24, pb.IoKind_IO_KIND_UNSPECIFIED, 0},
		{"report luns well known", []byte{scsi.OpReportLUNs, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0}, nil, 0, 0, pb.IoKind_IO_KIND_UNSPECIFIED, 8},
		{"report luns bad select", []byte{scsi.OpReportLUNs, 0, 3, 0, 0, 0, 0, 0, 1, 0, 0, 0}, nil, 5, 0x24, pb.IoKind_IO_KIND_UNSPECIFIED, 0},
		{"rc10", cdb10(scsi.OpReadCapacity10, 0, 0, 0), nil, 0, 0, pb.IoKind_IO_KIND_UNSPECIFIED, 8},
		{"rc10 lba without pmi", cdb10(scsi.OpReadCapacity10, 0, 5, 0), nil, 5, 0x24, pb.IoKind_IO_KIND_UNSPECIFIED, 0},
		{"rc16 alloc 0", cdb16(scsi.OpServiceActionIn16, 0x10, 0, 0), nil, 0, 0, pb.IoKind_IO_KIND_UNSPECIFIED, 0},
		{"rc16 alloc 15", cdb16(scsi.OpServiceActionIn16, 0x10, 0, 15), nil, 0, 0, pb.IoKind_IO_KIND_UNSPECIFIED, 15},
		{"rc16 alloc 96", cdb16(scsi.OpServiceActionIn16, 0x10, 0, 96), nil, 0, 0, pb.IoKind_IO_KIND_UNSPECIFIED, 32},
		{"get lba status thick", cdb16(scsi.OpServiceActionIn16, 0x12, 0, 96), nil, 0, 0, pb.IoKind_IO_KIND_UNSPECIFIED, 24},
		{"read10", cdb10(scsi.OpRead10, 0, 0, 2), nil, 0, 0, pb.IoKind_IO_KIND_READ, -1},
		{"read10 0 blocks", cdb10(scsi.OpRead10, 0, 0, 0), nil, 0, 0, pb.IoKind_IO_KIND_UNSPECIFIED, 0},
		{"read10 0 blocks past end", cdb10(scsi.OpRead10, 0, 1001, 0), nil, 5, 0x21, pb.IoKind_IO_KIND_UNSPECIFIED, 0},
		{"read10 0 blocks at end", cdb10(scsi.OpRead10, 0, 1000, 0), nil, 5, 0x21, pb.IoKind_IO_KIND_UNSPECIFIED, 0},
		{"read10 last block", cdb10(scsi.OpRead10, 0, 999, 1), nil, 0, 0, pb.IoKind_IO_KIND_READ, -1},
		{"read10 beyond", cdb10(scsi.OpRead10, 0, 999, 2), nil, 5, 0x21, pb.IoKind_IO_KIND_UNSPECIFIED, 0},
		{"read10 lba -1", cdb10(scsi.OpRead10, 0, 0xFFFFFFFF, 1), nil, 5, 0x21, pb.IoKind_IO_KIND_UNSPECIFIED, 0},
		{"read10 rdprotect", cdb10(scsi.OpRead10, 0x20, 0, 1), nil, 5, 0x24, pb.IoKind_IO_KIND_UNSPECIFIED, 0},
		{"read10 dpo fua", cdb10(scsi.OpRead10, 0x1A, 0, 1), nil, 0, 0, pb.IoKind_IO_KIND_READ, -1},
		{"read10 too long", cdb10(scsi.OpRead10, 0, 0, 8193), nil, 5, 0x24, pb.IoKind_IO_KIND_UNSPECIFIED, 0},
		{"read16 lba -1", cdb16(scsi.OpRead16, 0, ^uint64(0), 1), nil, 5, 0x21, pb.IoKind_IO_KIND_UNSPECIFIED, 0},
		{"read6 zero is 256", []byte{scsi.OpRead6, 0, 0, 0, 0, 0}, nil, 0, 0, pb.IoKind_IO_KIND_READ, -1},
		{"read6 beyond", []byte{scsi.OpRead6, 0, 0x03, 0xE8, 1, 0}, nil, 5, 0x21, pb.IoKind_IO_KIND_UNSPECIFIED, 0},
		{"write10", cdb10(scsi.OpWrite10, 0, 0, 1), blk, 0, 0, pb.IoKind_IO_KIND_WRITE, -1},
		{"write10 0 blocks", cdb10(scsi.OpWrite10, 0, 0, 0), nil, 0, 0, pb.IoKind_IO_KIND_UNSPECIFIED, 0},
		{"write10 beyond", cdb10(scsi.OpWrite10, 0, 1000, 1), blk, 5, 0x21, pb.IoKind_IO_KIND_UNSPECIFIED, 0},
		{"write10 wrprotect", cdb10(scsi.OpWrite10, 0x40, 0, 1), blk, 5, 0x24, pb.IoKind_IO_KIND_UNSPECIFIED, 0},
		{"verify10 bytchk0", cdb10(scsi.OpVerify10, 0, 0, 1), nil, 0, 0, pb.IoKind_IO_KIND_UNSPECIFIED, 0},
		{"verify10 bytchk1", cdb10(scsi.OpVerify10, 0x02, 0, 1), blk, 0, 0, pb.IoKind_IO_KIND_VERIFY, -1},
		{"verify10 beyond", cdb10(scsi.OpVerify10, 0x02, 1000, 1), blk, 5, 0x21, pb.IoKind_IO_KIND_UNSPECIFIED, 0},
		{"verify10 vrprotect", cdb10(scsi.OpVerify10, 0x22, 0, 1), blk, 5, 0x24, pb.IoKind_IO_KIND_UNSPECIFIED, 0},
		{"verify16 0 blocks", cdb16(scsi.OpVerify16, 0x02, 0, 0), nil, 0, 0, pb.IoKind_IO_KIND_UNSPECIFIED, 0},
		{"sync10", cdb10(scsi.OpSynchronizeCache10, 0, 0, 0), nil, 0, 0, pb.IoKind_IO_KIND_SYNC, -1},
		{"sync16 beyond", cdb16(scsi.OpSynchronizeCache16, 0, 999, 2), nil, 5, 0x21, pb.IoKind_IO_KIND_UNSPECIFIED, 0},
		{"mode sense6 all", []byte{scsi.OpModeSense6, 0, 0x3F, 0, 255, 0}, nil, 0, 0, pb.IoKind_IO_KIND_UNSPECIFIED, -1},
		{"mode sense6 residual 4", []byte{scsi.OpModeSense6, 0, 0x3F, 0, 4, 0}, nil, 0, 0, pb.IoKind_IO_KIND_UNSPECIFIED, 4},
		{"mode sense6 saved", []byte{scsi.OpModeSense6, 0, 0xFF, 0, 255, 0}, nil, 5, 0x39, pb.IoKind_IO_KIND_UNSPECIFIED, 0},
		{"mode sense6 bad page", []byte{scsi.OpModeSense6, 0, 0x05, 0, 255, 0}, nil, 5, 0x24, pb.IoKind_IO_KIND_UNSPECIFIED, 0},
		{"mode sense6 bad subpage", []byte{scsi.OpModeSense6, 0, 0x08, 1, 255, 0}, nil, 5, 0x24, pb.IoKind_IO_KIND_UNSPECIFIED, 0},
		{"mode sense6 subpage ff", []byte{scsi.OpModeSense6, 8, 0x08, 0xFF, 255, 0}, nil, 0, 0, pb.IoKind_IO_KIND_UNSPECIFIED, 24},
		{"mode sense10 llbaa", []byte{scsi.OpModeSense10, 0x10, 0x0A, 0, 0, 0, 0, 1, 0, 0}, nil, 0, 0, pb.IoKind_IO_KIND_UNSPECIFIED, 8 + 16 + 12},
		{"mode select sp", []byte{scsi.OpModeSelect6, 0x11, 0, 0, 0, 0}, nil, 5, 0x24, pb.IoKind_IO_KIND_UNSPECIFIED, 0},
		{"mode select short list", []byte{scsi.OpModeSelect6, 0x10, 0, 0, 24, 0}, make([]byte, 3), 5, 0x1A, pb.IoKind_IO_KIND_UNSPECIFIED, 0},
		{"request sense desc", []byte{scsi.OpRequestSense, 1, 0, 0, 18, 0}, nil, 5, 0x24, pb.IoKind_IO_KIND_UNSPECIFIED, 0},
		{"request sense", []byte{scsi.OpRequestSense, 0, 0, 0, 252, 0}, nil, 0, 0, pb.IoKind_IO_KIND_UNSPECIFIED, 18},
		{"start stop", []byte{scsi.OpStartStopUnit, 0, 0, 0, 1, 0}, nil, 0, 0, pb.IoKind_IO_KIND_UNSPECIFIED, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := ready(t, testConfig())
			r := exec(d, tt.cdb, tt.out)
			key, asc, _ := senseOf(r)
			if tt.key == 0 && tt.asc == 0 {
				if r.Status != scsi.StatusGood {
					t.Fatalf("status %#x sense % x, want GOOD", r.Status, r.Sense)
				}
			} else if key != tt.key || asc != tt.asc {
				t.Fatalf("got key %#x asc %#x, want %#x/%#x", key, asc, tt.key, tt.asc)
			}
			if r.IO.Kind != tt.io {
				t.Fatalf("io kind %d, want %d", r.IO.Kind, tt.io)
			}
			if tt.dataLen >= 0 && len(r.Data) != tt.dataLen {
				t.Fatalf("data len %d, want %d: % x", len(r.Data), tt.dataLen, r.Data)
			}
		})
	}
}

func TestStandardInquiryGolden(t *testing.T) {
	d := ready(t, testConfig())
	r := exec(d, []byte{scsi.OpInquiry, 0, 0, 0, 255, 0}, nil)
	want := make([]byte, 96)
	copy(want, []byte{0x00, 0x00, 0x06, 0x12, 91, 0x08, 0x00, 0x02})
	copy(want[8:], "ATGT    atgt disk       0001")
	copy(want[58:], []byte{0x00, 0xA0, 0x09, 0x60, 0x04, 0x60, 0x04, 0xC0})
	if !bytes.Equal(r.Data, want) {
		t.Fatalf("got\n% x\nwant\n% x", r.Data, want)
	}
}

func TestDeviceIdentificationGolden(t *testing.T) {
	cfg := testConfig()
	cfg.TargetName = "iqn.x:t"
	cfg.TargetPortGroup = 2
	d := ready(t, cfg)
	r := exec(d, []byte{scsi.OpInquiry, 1, 0x83, 0, 255, 0}, nil)
	want := []byte{0x00, 0x83, 0x00, 0x00,
		// NAA, LU
		0x01, 0x03, 0x00, 0x08, 0x31, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF,
		// T10 vendor ID, LU
		0x02, 0x01, 0x00, 0x0B, 'A', 'T', 'G', 'T', ' ', ' ', ' ', ' ', 'S', 'N', '1',
		// relative target port 1
		0x51, 0x94, 0x00, 0x04, 0x00, 0x00, 0x00, 0x01,
		// target port group 2
		0x51, 0x95, 0x00, 0x04, 0x00, 0x00, 0x00, 0x02,
		// SCSI name string, target port: "iqn.x:t,t,0x0001" + NUL, padded to 20
		0x53, 0x98, 0x00, 0x14, 'i', 'q', 'n', '.', 'x', ':', 't', ',', 't', ',', '0', 'x', '0', '0', '0', '1', 0, 0, 0, 0,
		// SCSI name string, target device: "iqn.x:t" + NUL
		0x53, 0xA8, 0x00, 0x08, 'i', 'q', 'n', '.', 'x', ':', 't', 0,
	}
	binary.BigEndian.PutUint16(want[2:], uint16(len(want)-4))
	if !bytes.Equal(r.Data, want) {
		t.Fatalf("got\n% x\nwant\n% x", r.Data, want)
	}
}

func TestReadCapacityGolden(t *testing.T) {
	cfg := testConfig()
	cfg.BlockSize = 4096
	cfg.Blocks = 1 << 33
	d := ready(t, cfg)
	r := exec(d, cdb16(scsi.OpServiceActionIn16, 0x10, 0, 32), nil)
	want := []byte{0, 0, 0, 1, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0x10, 0,
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	if !bytes.Equal(r.Data, want) {
		t.Fatalf("rc16 got % x", r.Data)
	}
	r = exec(d, cdb10(scsi.OpReadCapacity10, 0, 0, 0), nil)
	if !bytes.Equal(r.Data, []byte{0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0x10, 0}) {
		t.Fatalf("rc10 got % x", r.Data)
	}
}

func TestModeSense6AllPagesGolden(t *testing.T) {
	d := ready(t, testConfig())
	r := exec(d, []byte{scsi.OpModeSense6, 0, 0x3F, 0, 255, 0}, nil)
	want := []byte{
		3 + 8 + 12 + 20 + 12 + 12, 0x00, 0x10, 0x08,
		0, 0, 0x03, 0xE8, 0, 0, 0x02, 0x00, // 1000 blocks of 512
		0x01, 0x0A, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		0x08, 0x12, 0x04, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		0x0A, 0x0A, 0, 0x10, 0, 0x40, 0, 0, 0xFF, 0xFF, 0, 0,
		0x1C, 0x0A, 0x08, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	}
	if !bytes.Equal(r.Data, want) {
		t.Fatalf("got\n% x\nwant\n% x", r.Data, want)
	}
}

func TestReadOnly(t *testing.T) {
	cfg := testConfig()
	cfg.ReadOnly = true
	d := ready(t, cfg)
	blk := make([]byte, 512)
	for _, c := range [][]byte{
		cdb10(scsi.OpWrite10, 0, 0, 1),
		cdb16(scsi.OpWrite16, 0, 0, 1),
		{scsi.OpWrite6, 0, 0, 0, 1, 0},
		cdb10(scsi.OpWriteAndVerify10, 0, 0, 1),
	} {
		r := exec(d, c, blk)
		if k, asc, _ := senseOf(r); k != scsi.SenseDataProtect || asc != 0x27 {
			t.Fatalf("%#x: got key %#x asc %#x", c[0], k, asc)
		}
	}
	if r := exec(d, cdb10(scsi.OpRead10, 0, 0, 1), nil); r.IO.Kind != pb.IoKind_IO_KIND_READ {
		t.Fatalf("read on read-only LU: %+v", r)
	}
	r := exec(d, []byte{scsi.OpModeSense6, 0, 0x3F, 0, 255, 0}, nil)
	if r.Data[2]&0x80 == 0 {
		t.Fatalf("WP bit not set: % x", r.Data[:4])
	}
}

func TestWriteStable(t *testing.T) {
	blk := make([]byte, 1024)
	tests := []struct {
		name   string
		wce    bool
		cdb    []byte
		stable bool
	}{
		{"wce no fua", true, cdb10(scsi.OpWrite10, 0, 0, 2), false},
		{"wce fua", true, cdb10(scsi.OpWrite10, 0x08, 0, 2), true},
		{"no wce", false, cdb10(scsi.OpWrite10, 0, 0, 2), true},
		{"write6 wce", true, []byte{scsi.OpWrite6, 0, 0, 4, 2, 0}, false},
		{"write16 fua", true, cdb16(scsi.OpWrite16, 0x08, 4, 2), true},
		{"write and verify", true, cdb10(scsi.OpWriteAndVerify10, 0, 0, 2), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.WriteCache = tt.wce
			d := ready(t, cfg)
			r := exec(d, tt.cdb, blk)
			if r.IO.Kind != pb.IoKind_IO_KIND_WRITE || r.IO.Stable != tt.stable || r.IO.Length != 1024 || len(r.IO.Data) != 1024 {
				t.Fatalf("got %+v", r.IO)
			}
		})
	}
	// Offsets come from the LBA.
	d := ready(t, testConfig())
	r := exec(d, cdb16(scsi.OpWrite16, 0, 10, 1), blk)
	if r.IO.Offset != 5120 || r.IO.Length != 512 {
		t.Fatalf("offset/length %d/%d", r.IO.Offset, r.IO.Length)
	}
}

func TestUnitAttentionOncePerNexus(t *testing.T) {
	d := New(testConfig())
	tur := []byte{scsi.OpTestUnitReady, 0, 0, 0, 0, 0}
	inq := []byte{scsi.OpInquiry, 0, 0, 0, 36, 0}
	for _, nexus := range []string{"a", "b"} {
		if r := d.Execute(&Request{CDB: inq, Nexus: nexus}, nil); r.Status != scsi.StatusGood {
			t.Fatalf("%s: INQUIRY must pass a UA", nexus)
		}
		r := d.Execute(&Request{CDB: tur, Nexus: nexus}, nil)
		if k, asc, ascq := senseOf(r); k != scsi.SenseUnitAttention || asc != 0x29 || ascq != 0 {
			t.Fatalf("%s: want UA 29/00, got %#x %#x/%#x", nexus, k, asc, ascq)
		}
		if r := d.Execute(&Request{CDB: tur, Nexus: nexus}, nil); r.Status != scsi.StatusGood {
			t.Fatalf("%s: UA reported twice", nexus)
		}
	}
	// REQUEST SENSE returns and clears a pending UA.
	d.AddUnitAttention("b", scsi.CapacityDataChanged())
	r := d.Execute(&Request{CDB: []byte{scsi.OpRequestSense, 0, 0, 0, 18, 0}, Nexus: "b"}, nil)
	if r.Status != scsi.StatusGood || r.Data[2] != scsi.SenseUnitAttention || r.Data[12] != 0x2A || r.Data[13] != 0x09 {
		t.Fatalf("request sense: %+v", r)
	}
	if r := d.Execute(&Request{CDB: tur, Nexus: "b"}, nil); r.Status != scsi.StatusGood {
		t.Fatalf("UA not cleared by REQUEST SENSE")
	}
	// "" reaches every known nexus.
	d.AddUnitAttention("", scsi.ReportedLUNsChanged())
	for _, nexus := range []string{"a", "b"} {
		if _, asc, _ := senseOf(d.Execute(&Request{CDB: tur, Nexus: nexus}, nil)); asc != 0x3F {
			t.Fatalf("%s: want 3F UA, got asc %#x", nexus, asc)
		}
	}
	d.ForgetNexus("a")
	if _, asc, _ := senseOf(d.Execute(&Request{CDB: tur, Nexus: "a"}, nil)); asc != 0x29 {
		t.Fatalf("forgotten nexus must see POWER ON again")
	}
}

// A nexus that ended holds no unit attention: one raised while it was gone does
// not reach it when it comes back (a login with the same ISID), which starts
// with POWER ON, RESET as a new nexus does.
func TestNexusLostForgetsUnitAttentions(t *testing.T) {
	d := New(testConfig())
	tur := []byte{scsi.OpTestUnitReady, 0, 0, 0, 0, 0}
	for _, nexus := range []string{"a", "b"} {
		d.Execute(&Request{CDB: tur, Nexus: nexus}, nil) // POWER ON, reported
	}
	d.NexusLost("a")
	d.AddUnitAttention("", scsi.AsymmetricAccessStateChanged())
	if len(d.nexuses) != 1 {
		t.Fatalf("the device holds %d nexuses, want only b", len(d.nexuses))
	}
	want := []struct {
		nexus     string
		asc, ascq byte
	}{
		{"b", 0x2A, 0x06}, // b's session never ended: it sees the change
		{"b", 0, 0},
		{"a", 0x29, 0x00}, // a is new again: POWER ON, and nothing else
		{"a", 0, 0},
	}
	for i, w := range want {
		r := d.Execute(&Request{CDB: tur, Nexus: w.nexus}, nil)
		if w.asc == 0 {
			if r.Status != scsi.StatusGood {
				t.Fatalf("step %d (%s): want GOOD, got %+v", i, w.nexus, r)
			}
			continue
		}
		if k, asc, ascq := senseOf(r); k != scsi.SenseUnitAttention || asc != w.asc || ascq != w.ascq {
			t.Fatalf("step %d (%s): want UA %#x/%#x, got %#x %#x/%#x", i, w.nexus, w.asc, w.ascq, k, asc, ascq)
		}
	}
}

// modeSelect6 builds a MODE SELECT(6) with a 4-byte header and one page.
func modeSelect6(page []byte) ([]byte, []byte) {
	list := append([]byte{0, 0, 0, 0}, page...)
	return []byte{scsi.OpModeSelect6, 0x10, 0, 0, byte(len(list)), 0}, list
}

func TestModeSelectWCE(t *testing.T) {
	d := ready(t, testConfig())
	// Nexus b exists and has consumed its power-on UA.
	d.Execute(&Request{CDB: []byte{0, 0, 0, 0, 0, 0}, Nexus: "b"}, nil)

	r := exec(d, []byte{scsi.OpModeSense6, 0x08, 0x08, 0, 255, 0}, nil)
	page := append([]byte(nil), r.Data[4:]...)
	page[2] &^= 0x04 // WCE off
	c, list := modeSelect6(page)
	if r := exec(d, c, list); r.Status != scsi.StatusGood {
		t.Fatalf("mode select: sense % x", r.Sense)
	}
	if d.WriteCacheEnabled() {
		t.Fatal("WCE still on")
	}
	if r := exec(d, cdb10(scsi.OpWrite10, 0, 0, 1), make([]byte, 512)); !r.IO.Stable {
		t.Fatal("write with WCE=0 must be stable")
	}
	// The other nexus is told; the one that changed it is not.
	if r := exec(d, []byte{0, 0, 0, 0, 0, 0}, nil); r.Status != scsi.StatusGood {
		t.Fatal("UA raised on the selecting nexus")
	}
	r = d.Execute(&Request{CDB: []byte{0, 0, 0, 0, 0, 0}, Nexus: "b"}, nil)
	if k, asc, ascq := senseOf(r); k != scsi.SenseUnitAttention || asc != 0x2A || ascq != 0x01 {
		t.Fatalf("nexus b: want 2A/01, got %#x %#x/%#x", k, asc, ascq)
	}

	// Changing a non-changeable bit is refused and nothing is applied.
	page[2] |= 0x04
	page[3] = 0x01
	c, list = modeSelect6(page)
	r = exec(d, c, list)
	if k, asc, _ := senseOf(r); k != scsi.SenseIllegalRequest || asc != 0x26 {
		t.Fatalf("want invalid field in param list, got %#x/%#x", k, asc)
	}
	if d.WriteCacheEnabled() {
		t.Fatal("rejected MODE SELECT changed WCE")
	}
	// Wrong page length.
	c, list = modeSelect6([]byte{0x08, 0x0A, 0x04, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	if _, asc, _ := senseOf(exec(d, c, list)); asc != 0x26 {
		t.Fatal("wrong page length accepted")
	}
	// Unknown page.
	c, list = modeSelect6([]byte{0x05, 0x02, 0, 0})
	if _, asc, _ := senseOf(exec(d, c, list)); asc != 0x26 {
		t.Fatal("unknown page accepted")
	}
}

func TestModeSelectSWP(t *testing.T) {
	d := ready(t, testConfig())
	r := exec(d, []byte{scsi.OpModeSense6, 0x08, 0x0A, 0, 255, 0}, nil)
	page := append([]byte(nil), r.Data[4:]...)
	page[4] |= 0x08
	c, list := modeSelect6(page)
	if r := exec(d, c, list); r.Status != scsi.StatusGood {
		t.Fatalf("set SWP: % x", r.Sense)
	}
	r = exec(d, cdb10(scsi.OpWrite10, 0, 0, 1), make([]byte, 512))
	if k, asc, _ := senseOf(r); k != scsi.SenseDataProtect || asc != 0x27 {
		t.Fatalf("write with SWP: %#x/%#x", k, asc)
	}
	r = exec(d, []byte{scsi.OpModeSense6, 0x08, 0x0A, 0, 255, 0}, nil)
	if r.Data[2]&0x80 == 0 || r.Data[4+4]&0x08 == 0 {
		t.Fatalf("SWP/WP not reported: % x", r.Data)
	}
}

func TestComplete(t *testing.T) {
	d := ready(t, testConfig())
	req := &Request{CDB: cdb10(scsi.OpVerify10, 0x02, 0, 1), DataOut: bytes.Repeat([]byte{7}, 512), Nexus: "a"}
	r := d.Execute(req, nil)
	if r.IO.Kind != pb.IoKind_IO_KIND_VERIFY {
		t.Fatalf("plan %+v", r.IO)
	}
	media := bytes.Repeat([]byte{7}, 512)
	if r := CompleteIO(r.IO, media, nil); r.Status != scsi.StatusGood {
		t.Fatalf("equal verify: % x", r.Sense)
	}
	media[300] = 8
	got := CompleteIO(r.IO, media, nil)
	if k, asc, _ := senseOf(got); k != scsi.SenseMiscompare || asc != 0x1D {
		t.Fatalf("miscompare: %#x/%#x", k, asc)
	}
	if got.Sense[0] != 0xF0 || binary.BigEndian.Uint32(got.Sense[3:7]) != 300 {
		t.Fatalf("miscompare info: % x", got.Sense)
	}

	rd := &Request{CDB: cdb10(scsi.OpRead10, 0, 0, 1), Nexus: "a"}
	r = d.Execute(rd, nil)
	if got := CompleteIO(r.IO, make([]byte, 512), nil); got.Status != scsi.StatusGood || len(got.Data) != 512 {
		t.Fatalf("read complete: %+v", got)
	}
	if k, asc, _ := senseOf(CompleteIO(r.IO, nil, errors.New("eio"))); k != scsi.SenseMediumError || asc != 0x11 {
		t.Fatalf("read error: %#x/%#x", k, asc)
	}
	if k, _, _ := senseOf(CompleteIO(r.IO, make([]byte, 100), nil)); k != scsi.SenseMediumError {
		t.Fatal("short read must not be GOOD")
	}
	wr := &Request{CDB: cdb10(scsi.OpWrite10, 0, 0, 1), DataOut: make([]byte, 512), Nexus: "a"}
	r = d.Execute(wr, nil)
	if k, asc, _ := senseOf(CompleteIO(r.IO, nil, errors.New("eio"))); k != scsi.SenseMediumError || asc != 0x0C {
		t.Fatalf("write error: %#x/%#x", k, asc)
	}
	if k, _, _ := senseOf(CompleteIO(r.IO, nil, scsi.InternalTargetFailure())); k != scsi.SenseHardwareError {
		t.Fatal("sense error not passed through")
	}
}

func TestReportLUNs(t *testing.T) {
	cfg := testConfig()
	cfg.ListLUNs = func() []uint64 { return []uint64{300, 0, 1} }
	d := ready(t, cfg)
	r := exec(d, []byte{scsi.OpReportLUNs, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0}, nil)
	want := []byte{0, 0, 0, 24, 0, 0, 0, 0,
		0, 0, 0, 0, 0, 0, 0, 0,
		0, 1, 0, 0, 0, 0, 0, 0,
		0x41, 0x2C, 0, 0, 0, 0, 0, 0}
	if !bytes.Equal(r.Data, want) {
		t.Fatalf("got % x", r.Data)
	}
}

func TestRandomCDBsNeverPanic(t *testing.T) {
	rng := rand.New(rand.NewSource(42))
	d := New(testConfig())
	for i := 0; i < 200000; i++ {
		cdb := make([]byte, rng.Intn(18))
		rng.Read(cdb)
		if len(cdb) > 0 && rng.Intn(2) == 0 {
			// Bias towards implemented opcodes.
			ops := []byte{0x00, 0x03, 0x08, 0x0A, 0x12, 0x15, 0x1A, 0x1B, 0x25, 0x28, 0x2A, 0x2E, 0x2F,
				0x35, 0x55, 0x5A, 0x88, 0x8A, 0x8E, 0x8F, 0x91, 0x9E, 0xA0, 0xA8, 0xAA, 0xAE, 0xAF}
			cdb[0] = ops[rng.Intn(len(ops))]
		}
		out := make([]byte, rng.Intn(600))
		rng.Read(out)
		req := &Request{CDB: cdb, DataOut: out, Nexus: string(rune('a' + rng.Intn(3)))}
		r := d.Execute(req, nil)
		if r.IO.Kind != pb.IoKind_IO_KIND_UNSPECIFIED {
			read := make([]byte, rng.Intn(int(r.IO.Length)+2))
			CompleteIO(r.IO, read, nil)
		}
		if r.Status == scsi.StatusCheckCondition && len(r.Sense) != scsi.FixedSenseLen {
			t.Fatalf("bad sense for % x", cdb)
		}
	}
	d.Execute(nil, nil)
}

// TestControlPageTaskSet: the Control mode page reports one task set shared by every
// I_T nexus (TST=000b) and TASK ABORTED status for commands another nexus aborts
// (TAS=1), in the current and default values; neither is changeable, so a
// MODE SELECT that clears TAS is rejected.
func TestControlPageTaskSet(t *testing.T) {
	d := ready(t, testConfig())
	for _, pc := range []byte{0, 2} { // current, default
		r := exec(d, []byte{scsi.OpModeSense6, 0x08, pc<<6 | 0x0A, 0, 255, 0}, nil)
		if r.Status != scsi.StatusGood {
			t.Fatalf("MODE SENSE pc=%d: % x", pc, r.Sense)
		}
		page := r.Data[4:]
		if page[0]&0x3F != 0x0A || page[1] != 0x0A {
			t.Fatalf("pc=%d: not the control page: % x", pc, page)
		}
		if tst := page[2] >> 5; tst != 0 {
			t.Fatalf("pc=%d: TST=%03b, want 000", pc, tst)
		}
		if page[5]&0x40 == 0 {
			t.Fatalf("pc=%d: TAS=0, want 1: % x", pc, page)
		}
	}
	r := exec(d, []byte{scsi.OpModeSense6, 0x08, 1<<6 | 0x0A, 0, 255, 0}, nil)
	if ch := r.Data[4:]; ch[2]&0xE0 != 0 || ch[5]&0x40 != 0 {
		t.Fatalf("TST or TAS changeable: % x", ch)
	}
	r = exec(d, []byte{scsi.OpModeSense6, 0x08, 0x0A, 0, 255, 0}, nil)
	page := append([]byte(nil), r.Data[4:]...)
	page[0] &= 0x3F
	page[5] &^= 0x40
	c, list := modeSelect6(page)
	if k, asc, _ := senseOf(exec(d, c, list)); k != scsi.SenseIllegalRequest || asc != 0x26 {
		t.Fatalf("MODE SELECT clearing TAS: want INVALID FIELD IN PARAMETER LIST, got %#x/%#x", k, asc)
	}
}
