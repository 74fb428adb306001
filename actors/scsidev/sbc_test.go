package scsidev

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/scsi"
)

func thinConfig() Config {
	c := testConfig()
	c.Thin, c.UnmapReadsZero = true, true
	return c
}

// unmapList builds an UNMAP parameter list of (lba, blocks) descriptors.
func unmapList(descs ...[2]uint64) []byte {
	p := make([]byte, 8+16*len(descs))
	binary.BigEndian.PutUint16(p[0:2], uint16(len(p)-2))
	binary.BigEndian.PutUint16(p[2:4], uint16(16*len(descs)))
	for i, d := range descs {
		binary.BigEndian.PutUint64(p[8+16*i:], d[0])
		binary.BigEndian.PutUint32(p[8+16*i+8:], uint32(d[1]))
	}
	return p
}

func unmapCDB(plen int) []byte {
	c := make([]byte, 10)
	c[0] = scsi.OpUnmap
	binary.BigEndian.PutUint16(c[7:9], uint16(plen))
	return c
}

func cawCDB(b1 byte, lba uint64, n byte) []byte {
	c := make([]byte, 16)
	c[0], c[1] = scsi.OpCompareAndWrite, b1
	binary.BigEndian.PutUint64(c[2:], lba)
	c[13] = n
	return c
}

func TestSBCCommands(t *testing.T) {
	blk := make([]byte, 512)
	ones := bytes.Repeat([]byte{0xFF}, 512)
	good1 := unmapList([2]uint64{0, 8}, [2]uint64{992, 8})
	many := unmapList(make([][2]uint64, 257)...)
	tests := []struct {
		name     string
		thin     bool
		cdb      []byte
		out      []byte
		key, asc uint8
		io       pb.IoKind
	}{
		{"unmap", true, unmapCDB(len(good1)), good1, 0, 0, pb.IoKind_IO_KIND_UNMAP},
		{"unmap thick", false, unmapCDB(len(good1)), good1, 5, 0x20, pb.IoKind_IO_KIND_UNSPECIFIED},
		{"unmap no list", true, unmapCDB(0), nil, 0, 0, pb.IoKind_IO_KIND_UNSPECIFIED},
		{"unmap short list", true, unmapCDB(6), make([]byte, 6), 5, 0x1A, pb.IoKind_IO_KIND_UNSPECIFIED},
		{"unmap anchor", true, append([]byte{scsi.OpUnmap, 1}, unmapCDB(len(good1))[2:]...), good1, 5, 0x24, pb.IoKind_IO_KIND_UNSPECIFIED},
		{"unmap beyond", true, unmapCDB(24), unmapList([2]uint64{999, 2}), 5, 0x21, pb.IoKind_IO_KIND_UNSPECIFIED},
		{"unmap lba -1", true, unmapCDB(24), unmapList([2]uint64{^uint64(0), 1}), 5, 0x21, pb.IoKind_IO_KIND_UNSPECIFIED},
		{"unmap zero blocks", true, unmapCDB(24), unmapList([2]uint64{0, 0}), 0, 0, pb.IoKind_IO_KIND_UNSPECIFIED},
		{"unmap too many descriptors", true, unmapCDB(len(many)), many, 5, 0x26, pb.IoKind_IO_KIND_UNSPECIFIED},
		{"unmap lying lengths", true, unmapCDB(24), append(unmapList([2]uint64{0, 1})[:8], 0, 0), 5, 0x1A, pb.IoKind_IO_KIND_UNSPECIFIED},
		{"ws10 zero data thin", true, cdb10(scsi.OpWriteSame10, 0x08, 0, 8), blk, 0, 0, pb.IoKind_IO_KIND_UNMAP},
		{"ws10 data with unmap", true, cdb10(scsi.OpWriteSame10, 0x08, 0, 8), ones, 0, 0, pb.IoKind_IO_KIND_WRITE_SAME},
		{"ws10 unmap thick", false, cdb10(scsi.OpWriteSame10, 0x08, 0, 8), blk, 5, 0x24, pb.IoKind_IO_KIND_UNSPECIFIED},
		{"ws10 write", false, cdb10(scsi.OpWriteSame10, 0, 0, 8), ones, 0, 0, pb.IoKind_IO_KIND_WRITE_SAME},
		{"ws10 0 blocks (wsnz)", true, cdb10(scsi.OpWriteSame10, 0, 0, 0), blk, 5, 0x24, pb.IoKind_IO_KIND_UNSPECIFIED},
		{"ws10 0 blocks past end", true, cdb10(scsi.OpWriteSame10, 0, 1001, 0), blk, 5, 0x21, pb.IoKind_IO_KIND_UNSPECIFIED},
		{"ws10 beyond", true, cdb10(scsi.OpWriteSame10, 0, 999, 2), blk, 5, 0x21, pb.IoKind_IO_KIND_UNSPECIFIED},
		{"ws10 anchor", true, cdb10(scsi.OpWriteSame10, 0x10, 0, 1), blk, 5, 0x24, pb.IoKind_IO_KIND_UNSPECIFIED},
		{"ws10 wrprotect", true, cdb10(scsi.OpWriteSame10, 0x20, 0, 1), blk, 5, 0x24, pb.IoKind_IO_KIND_UNSPECIFIED},
		{"ws10 half block", true, cdb10(scsi.OpWriteSame10, 0x08, 0, 1), blk[:256], 5, 0x24, pb.IoKind_IO_KIND_UNSPECIFIED},
		{"ws10 two blocks", true, cdb10(scsi.OpWriteSame10, 0x08, 0, 1), make([]byte, 1024), 5, 0x24, pb.IoKind_IO_KIND_UNSPECIFIED},
		{"ws16 ndob", true, cdb16(scsi.OpWriteSame16, 0x09, 0, 8), nil, 0, 0, pb.IoKind_IO_KIND_UNMAP},
		{"ws16 lba -1", true, cdb16(scsi.OpWriteSame16, 0, ^uint64(0), 1), blk, 5, 0x21, pb.IoKind_IO_KIND_UNSPECIFIED},
		{"get lba status thin", true, cdb16(scsi.OpServiceActionIn16, scsi.SAGetLBAStatus, 0, 24), nil, 0, 0, pb.IoKind_IO_KIND_LBA_STATUS},
		{"get lba status at end", true, cdb16(scsi.OpServiceActionIn16, scsi.SAGetLBAStatus, 1000, 24), nil, 5, 0x21, pb.IoKind_IO_KIND_UNSPECIFIED},
		{"caw", false, cawCDB(0, 0, 1), make([]byte, 1024), 0, 0, pb.IoKind_IO_KIND_COMPARE_AND_WRITE},
		{"caw 0 blocks", false, cawCDB(0, 0, 0), nil, 0, 0, pb.IoKind_IO_KIND_UNSPECIFIED},
		{"caw 0 blocks with data", false, cawCDB(0, 0, 0), make([]byte, 1024), 5, 0x24, pb.IoKind_IO_KIND_UNSPECIFIED},
		{"caw wrong data size", false, cawCDB(0, 0, 1), blk, 5, 0x24, pb.IoKind_IO_KIND_UNSPECIFIED},
		{"caw beyond", false, cawCDB(0, 999, 2), make([]byte, 2048), 5, 0x21, pb.IoKind_IO_KIND_UNSPECIFIED},
		{"caw wrprotect", false, cawCDB(0x20, 0, 1), make([]byte, 1024), 5, 0x24, pb.IoKind_IO_KIND_UNSPECIFIED},
		{"orwrite", false, cdb16(scsi.OpORWrite, 0, 0, 1), blk, 0, 0, pb.IoKind_IO_KIND_OR_WRITE},
		{"orwrite 0 blocks", false, cdb16(scsi.OpORWrite, 0, 0, 0), nil, 0, 0, pb.IoKind_IO_KIND_UNSPECIFIED},
		{"orwrite beyond", false, cdb16(scsi.OpORWrite, 0, 1000, 1), blk, 5, 0x21, pb.IoKind_IO_KIND_UNSPECIFIED},
		{"orwrite orprotect", false, cdb16(scsi.OpORWrite, 0x20, 0, 1), blk, 5, 0x24, pb.IoKind_IO_KIND_UNSPECIFIED},
		{"prefetch10", false, cdb10(scsi.OpPrefetch10, 0, 0, 10), nil, 0, 0, pb.IoKind_IO_KIND_UNSPECIFIED},
		{"prefetch10 beyond", false, cdb10(scsi.OpPrefetch10, 0, 999, 2), nil, 5, 0x21, pb.IoKind_IO_KIND_UNSPECIFIED},
		{"prefetch16 0 blocks at end", false, cdb16(scsi.OpPrefetch16, 0, 1000, 0), nil, 5, 0x21, pb.IoKind_IO_KIND_UNSPECIFIED},
		{"prevent allow", false, []byte{scsi.OpPreventAllowRemoval, 0, 0, 0, 1, 0}, nil, 0, 0, pb.IoKind_IO_KIND_UNSPECIFIED},
		{"read defect data 10", false, []byte{scsi.OpReadDefectData10, 0, 0x18, 0, 0, 0, 0, 0, 4, 0}, nil, 0, 0, pb.IoKind_IO_KIND_UNSPECIFIED},
		{"read defect data 12", false, []byte{scsi.OpReadDefectData12, 0x18, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0}, nil, 0, 0, pb.IoKind_IO_KIND_UNSPECIFIED},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			if tt.thin {
				cfg = thinConfig()
			}
			d := ready(t, cfg)
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
		})
	}
}

func TestUnmapPlanExtents(t *testing.T) {
	d := ready(t, thinConfig())
	p := unmapList([2]uint64{0, 8}, [2]uint64{0, 0}, [2]uint64{992, 8})
	r := exec(d, unmapCDB(len(p)), p)
	want := []Extent{{0, 8 * 512}, {992 * 512, 8 * 512}}
	if len(r.IO.Extents) != 2 || r.IO.Extents[0] != want[0] || r.IO.Extents[1] != want[1] {
		t.Fatalf("extents %+v, want %+v", r.IO.Extents, want)
	}
	if s := r.IO.Span(); s.Offset != 0 || s.Length != 1000*512 {
		t.Fatalf("span %+v", s)
	}
}

// TestUnmapStableWithoutWriteCache: with WCE=0 an UNMAP, and a WRITE SAME with
// UNMAP turned into a deallocation, are stable before GOOD like any write; with
// WCE=1 they stay cached until SYNCHRONIZE CACHE.
func TestUnmapStableWithoutWriteCache(t *testing.T) {
	p := unmapList([2]uint64{0, 8})
	for _, wce := range []bool{true, false} {
		cfg := thinConfig()
		cfg.WriteCache = wce
		d := ready(t, cfg)
		for _, c := range []struct {
			name     string
			cdb, out []byte
		}{
			{"UNMAP", unmapCDB(len(p)), p},
			{"WRITE SAME(16) UNMAP", cdb16(scsi.OpWriteSame16, 0x08, 0, 8), make([]byte, 512)},
			{"WRITE SAME(16) UNMAP NDOB", cdb16(scsi.OpWriteSame16, 0x09, 0, 8), nil},
		} {
			r := exec(d, c.cdb, c.out)
			if r.IO.Kind != pb.IoKind_IO_KIND_UNMAP || r.IO.Stable != !wce {
				t.Errorf("WCE=%v: %s: plan %v stable %v, want UNMAP stable %v", wce, c.name, r.IO.Kind, r.IO.Stable, !wce)
			}
		}
	}
}

func TestProvisioningReported(t *testing.T) {
	tests := []struct {
		name       string
		cfg        Config
		rc16, b2   byte
		unmapLimit bool
	}{
		{"thick", testConfig(), 0, 0, false},
		{"thin file", thinConfig(), 0xC0, 0xE4, true},
		{"thin block device", func() Config { c := thinConfig(); c.UnmapReadsZero = false; return c }(), 0x80, 0xE0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := ready(t, tt.cfg)
			rc := exec(d, cdb16(scsi.OpServiceActionIn16, 0x10, 0, 32), nil)
			if rc.Data[14] != tt.rc16 {
				t.Errorf("READ CAPACITY(16) byte 14 %#x, want %#x", rc.Data[14], tt.rc16)
			}
			b2 := exec(d, []byte{scsi.OpInquiry, 1, 0xB2, 0, 255, 0}, nil)
			if b2.Data[5] != tt.b2 {
				t.Errorf("VPD B2 byte 5 %#x, want %#x", b2.Data[5], tt.b2)
			}
			b0 := exec(d, []byte{scsi.OpInquiry, 1, 0xB0, 0, 255, 0}, nil)
			if got := binary.BigEndian.Uint32(b0.Data[20:24]) != 0; got != tt.unmapLimit {
				t.Errorf("VPD B0 max unmap LBA count set %v, want %v", got, tt.unmapLimit)
			}
			if b0.Data[5] != maxCompareAndWriteBlocks || b0.Data[4]&1 != 1 {
				t.Errorf("VPD B0 WSNZ/max CAW: % x", b0.Data[4:6])
			}
		})
	}
}

func TestLBAStatusData(t *testing.T) {
	cdb := cdb16(scsi.OpServiceActionIn16, scsi.SAGetLBAStatus, 10, 255)
	data := LBAStatusData(cdb, 512, []Run{{Mapped: false, Length: 4096}, {Mapped: true, Length: 1024}})
	if len(data) != 8+32 || binary.BigEndian.Uint32(data[0:4]) != 36 {
		t.Fatalf("data % x", data)
	}
	if lba, n, st := binary.BigEndian.Uint64(data[8:]), binary.BigEndian.Uint32(data[16:]), data[20]; lba != 10 || n != 8 || st != 1 {
		t.Errorf("first descriptor lba %d n %d status %d", lba, n, st)
	}
	if lba, n, st := binary.BigEndian.Uint64(data[24:]), binary.BigEndian.Uint32(data[32:]), data[36]; lba != 18 || n != 2 || st != 0 {
		t.Errorf("second descriptor lba %d n %d status %d", lba, n, st)
	}
	short := LBAStatusData(cdb16(scsi.OpServiceActionIn16, scsi.SAGetLBAStatus, 0, 10), 512, []Run{{Mapped: true, Length: 512}})
	if len(short) != 10 {
		t.Errorf("allocation length not honoured: %d bytes", len(short))
	}
}

// TestLBAStatusDataPartialBlocks: only a block wholly inside a hole is
// deallocated; a block with any mapped byte is mapped (SBC-4 4.7.1). A hole
// smaller than the block, as a sparse image on a file system with 1 KiB blocks
// has, must not make its block read as zeros to a copier that trusts LBPRZ.
func TestLBAStatusDataPartialBlocks(t *testing.T) {
	type desc struct {
		lba     uint64
		n       uint32
		dealloc bool
	}
	const bs = 4096
	for _, tt := range []struct {
		name string
		lba  uint64
		runs []Run
		want []desc
	}{
		{"hole at the start of a block", 0, []Run{{false, 1024}, {true, 7168}}, []desc{{0, 2, false}}},
		{"hole at the end of a block", 5, []Run{{true, 1024}, {false, 3072}, {true, 4096}}, []desc{{5, 2, false}}},
		{"hole inside a block", 0, []Run{{true, 512}, {false, 1024}, {true, 2560}}, []desc{{0, 1, false}}},
		{"whole blocks between partial ones", 7, []Run{{true, 1000}, {false, 3096 + 2*bs + 100}, {true, bs - 100}},
			[]desc{{7, 1, false}, {8, 2, true}, {10, 1, false}}},
		{"aligned runs", 0, []Run{{false, bs}, {true, bs}, {false, 2 * bs}},
			[]desc{{0, 1, true}, {1, 1, false}, {2, 2, true}}},
		{"two holes with a partial block between", 0, []Run{{false, bs + 100}, {true, 100}, {false, bs*2 - 200}},
			[]desc{{0, 1, true}, {1, 1, false}, {2, 1, true}}},
		{"adjacent unmapped runs merged", 0, []Run{{false, 2048}, {false, 2048}, {true, bs}}, []desc{{0, 1, true}, {1, 1, false}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			data := LBAStatusData(cdb16(scsi.OpServiceActionIn16, scsi.SAGetLBAStatus, tt.lba, 255), bs, tt.runs)
			if len(data) < 8 || int(binary.BigEndian.Uint32(data[0:4])) != len(data)-4 {
				t.Fatalf("data % x", data)
			}
			var got []desc
			for off := 8; off+16 <= len(data); off += 16 {
				got = append(got, desc{binary.BigEndian.Uint64(data[off:]), binary.BigEndian.Uint32(data[off+8:]), data[off+12]&0x0F == 1})
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("descriptors %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCompareAndWriteData(t *testing.T) {
	io := IO{Kind: pb.IoKind_IO_KIND_COMPARE_AND_WRITE, Length: 4, Data: []byte{1, 2, 3, 4, 9, 9, 9, 9}}
	w, err := CompareAndWriteData(io, []byte{1, 2, 3, 4})
	if err != nil || !bytes.Equal(w, []byte{9, 9, 9, 9}) {
		t.Fatalf("match: write %v err %v", w, err)
	}
	w, err = CompareAndWriteData(io, []byte{1, 2, 7, 4})
	var se *scsi.SenseError
	if w != nil || !errors.As(err, &se) {
		t.Fatalf("miscompare not reported: %v", err)
	}
	if se.Key != scsi.SenseMiscompare || se.ASC != 0x1D || !se.InfoValid || se.Info != 2 {
		t.Fatalf("miscompare sense %+v", se)
	}
	if got := ORData(IO{Data: []byte{0xF0, 0x01}}, []byte{0x0F, 0x10}); !bytes.Equal(got, []byte{0xFF, 0x11}) {
		t.Fatalf("OR %v", got)
	}
}

func rsocCDB(rctd bool, opt, op byte, sa uint16, alloc uint32) []byte {
	c := make([]byte, 12)
	c[0], c[1], c[2], c[3] = scsi.OpMaintenanceIn, scsi.SAReportSupportedOpcodes, opt, op
	if rctd {
		c[2] |= 0x80
	}
	binary.BigEndian.PutUint16(c[4:6], sa)
	binary.BigEndian.PutUint32(c[6:10], alloc)
	return c
}

func TestReportSupportedOpcodes(t *testing.T) {
	tests := []struct {
		name     string
		thin     bool
		cdb      []byte
		key, asc uint8
		support  byte // one-command SUPPORT field; 0: not a one-command answer
		cdbLen   int
	}{
		{"one read10", false, rsocCDB(false, 1, scsi.OpRead10, 0, 512), 0, 0, 3, 10},
		{"one unmap thick", false, rsocCDB(false, 1, scsi.OpUnmap, 0, 512), 0, 0, 1, 0},
		{"one unmap thin", true, rsocCDB(false, 1, scsi.OpUnmap, 0, 512), 0, 0, 3, 10},
		{"one unknown", false, rsocCDB(false, 1, 0xC5, 0, 512), 0, 0, 1, 0},
		{"option 1 on service action opcode", false, rsocCDB(false, 1, scsi.OpServiceActionIn16, 0x10, 512), 5, 0x24, 0, 0},
		{"option 2 without service actions", false, rsocCDB(false, 2, scsi.OpRead10, 0, 512), 5, 0x24, 0, 0},
		{"option 2 read capacity 16", false, rsocCDB(false, 2, scsi.OpServiceActionIn16, 0x10, 512), 0, 0, 3, 16},
		{"option 2 unknown service action", false, rsocCDB(false, 2, scsi.OpServiceActionIn16, 0x11, 512), 0, 0, 1, 0},
		{"option 3 read16", false, rsocCDB(false, 3, scsi.OpRead16, 0, 512), 0, 0, 3, 16},
		{"bad option", false, rsocCDB(false, 5, 0, 0, 512), 5, 0x24, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			if tt.thin {
				cfg = thinConfig()
			}
			d := ready(t, cfg)
			r := exec(d, tt.cdb, nil)
			if tt.key != 0 {
				if key, asc, _ := senseOf(r); key != tt.key || asc != tt.asc {
					t.Fatalf("got %#x/%#x, want %#x/%#x", key, asc, tt.key, tt.asc)
				}
				return
			}
			if r.Status != scsi.StatusGood || len(r.Data) < 4 {
				t.Fatalf("status %#x data % x", r.Status, r.Data)
			}
			if r.Data[1]&7 != tt.support || int(binary.BigEndian.Uint16(r.Data[2:4])) != tt.cdbLen {
				t.Fatalf("one command header % x", r.Data[:4])
			}
			if tt.cdbLen > 0 && r.Data[4] != tt.cdb[3] {
				t.Fatalf("usage data byte 0 %#x, want opcode %#x", r.Data[4], tt.cdb[3])
			}
		})
	}
}

func TestReportSupportedOpcodesAll(t *testing.T) {
	for _, rctd := range []bool{false, true} {
		d := ready(t, thinConfig())
		r := exec(d, rsocCDB(rctd, 0, 0, 0, 65535), nil)
		if r.Status != scsi.StatusGood {
			t.Fatalf("status %#x", r.Status)
		}
		size := 8
		if rctd {
			size = 20
		}
		body := r.Data[4:]
		if int(binary.BigEndian.Uint32(r.Data[0:4])) != len(body) || len(body)%size != 0 {
			t.Fatalf("length %d for %d bytes", binary.BigEndian.Uint32(r.Data[0:4]), len(body))
		}
		seen := map[uint32]bool{}
		for i := 0; i < len(body); i += size {
			op, sa, flags := body[i], binary.BigEndian.Uint16(body[i+2:]), body[i+5]
			seen[uint32(op)<<16|uint32(sa)] = true
			_, hasSA := scsi.ServiceActions[op]
			if (flags&1 != 0) != hasSA || (flags&2 != 0) != rctd {
				t.Errorf("opcode %#x sa %#x flags %#x", op, sa, flags)
			}
			if !d.supports(op, sa) {
				t.Errorf("opcode %#x sa %#x listed but not supported", op, sa)
			}
			if rctd && binary.BigEndian.Uint16(body[i+8:]) != 0x0A {
				t.Errorf("opcode %#x: bad timeouts descriptor", op)
			}
		}
		for _, want := range []uint32{scsi.OpRead10 << 16, scsi.OpUnmap << 16, scsi.OpCompareAndWrite << 16,
			uint32(scsi.OpServiceActionIn16)<<16 | scsi.SAGetLBAStatus} {
			if !seen[want] {
				t.Errorf("%#x missing", want)
			}
		}
	}
}

// TestUsageCoversSupported keeps the usage masks and the Commands table in
// step: every supported command has usage data starting with its opcode and
// as long as its CDB.
func TestUsageCoversSupported(t *testing.T) {
	for op := 0; op < 256; op++ {
		if !scsi.Commands[op].Supported {
			continue
		}
		sas, hasSA := scsi.ServiceActions[byte(op)]
		if !hasSA {
			sas = []uint16{0}
		}
		for _, sa := range sas {
			u, ok := scsi.CDBUsage(byte(op), sa)
			if !ok || u[0] != byte(op) || len(u) != scsi.CDBLength(byte(op)) {
				t.Errorf("opcode %#x sa %#x: usage % x", op, sa, u)
			}
		}
	}
}

func TestReportSupportedTMFs(t *testing.T) {
	d := ready(t, testConfig())
	c := []byte{scsi.OpMaintenanceIn, scsi.SAReportSupportedTMFs, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0}
	// ATS ATSS CTSS LURS QTS TRS in byte 0, QTSS in byte 1: what actors/conn does.
	if r := exec(d, c, nil); r.Status != scsi.StatusGood || len(r.Data) != 4 || r.Data[0] != 0xde || r.Data[1] != 0x02 {
		t.Fatalf("RSTMF % x", r.Data)
	}
	c[2] = 0x80
	c[9] = 16
	if r := exec(d, c, nil); len(r.Data) != 16 || r.Data[3] != 0x0C {
		t.Fatalf("RSTMF REPTD % x", r.Data)
	}
	c[9] = 3
	if key, asc, _ := senseOf(exec(d, c, nil)); key != 5 || asc != 0x24 {
		t.Fatalf("alloc 3: %#x/%#x", key, asc)
	}
}

// TestStartStopUnitFlushes: a stop without NO_FLUSH (POWER CONDITION 0h, START=0)
// writes the cache to the medium before GOOD (SBC-4 5.25), as SYNCHRONIZE CACHE of
// the whole medium: an IO_KIND_SYNC plan. A start, a stop with NO_FLUSH and a
// power condition change do nothing.
func TestStartStopUnitFlushes(t *testing.T) {
	d := ready(t, testConfig())
	for _, c := range []struct {
		name      string
		b1, b4    byte
		wantFlush bool
	}{
		{"stop", 0, 0x00, true},
		{"stop IMMED", 0x01, 0x00, true},
		{"stop LOEJ", 0, 0x02, true},
		{"stop NO_FLUSH", 0, 0x04, false},
		{"start", 0, 0x01, false},
		{"power condition STANDBY", 0, 0x30, false},
	} {
		r := exec(d, []byte{scsi.OpStartStopUnit, c.b1, 0, 0, c.b4, 0}, nil)
		if r.Status != scsi.StatusGood {
			t.Fatalf("%s: %+v", c.name, r)
		}
		flush := r.IO.Kind == pb.IoKind_IO_KIND_SYNC
		if flush != c.wantFlush || (flush && (r.IO.Offset != 0 || r.IO.Length != 1000*512 || !r.IO.Stable)) {
			t.Errorf("%s: IO %+v, want a flush of the whole medium %v", c.name, r.IO, c.wantFlush)
		}
	}
}
