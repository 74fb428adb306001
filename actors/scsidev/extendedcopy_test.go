package scsidev

import (
	"encoding/binary"
	"testing"

	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/scsi"
)

// otherNAA is a second LU of the test target, reachable through CopyTargets.
const otherNAA = 0x3000000000000042

func copyConfig() Config {
	c := testConfig()
	c.CopyTargets = func(naa uint64) (CopyTarget, bool) {
		if naa == otherNAA {
			return CopyTarget{BlockSize: 512, Blocks: 100}, true
		}
		return CopyTarget{}, false
	}
	return c
}

// identDesc is an identification descriptor target descriptor naming naa.
func identDesc(naa uint64, b1 byte) []byte {
	d := make([]byte, 32)
	d[0], d[1] = 0xE4, b1
	d[4], d[5], d[7] = codeSetBinary, assocLU|typeNAA, 8
	binary.BigEndian.PutUint64(d[8:16], naa)
	d[30] = 0x02 // block length 512
	return d
}

// b2bSeg is a block-to-block segment descriptor.
func b2bSeg(src, dst uint16, blocks uint16, srcLBA, dstLBA uint64) []byte {
	d := make([]byte, 28)
	d[0] = 0x02
	binary.BigEndian.PutUint16(d[2:4], 24)
	binary.BigEndian.PutUint16(d[4:6], src)
	binary.BigEndian.PutUint16(d[6:8], dst)
	binary.BigEndian.PutUint16(d[10:12], blocks)
	binary.BigEndian.PutUint64(d[12:20], srcLBA)
	binary.BigEndian.PutUint64(d[20:28], dstLBA)
	return d
}

// xcopyList builds a LID1 parameter list.
func xcopyList(listID, usage byte, targets, segs [][]byte) []byte {
	h := make([]byte, 16)
	h[0], h[1] = listID, usage<<3
	var t, s []byte
	for _, d := range targets {
		t = append(t, d...)
	}
	for _, d := range segs {
		s = append(s, d...)
	}
	binary.BigEndian.PutUint16(h[2:4], uint16(len(t)))
	binary.BigEndian.PutUint32(h[8:12], uint32(len(s)))
	return append(append(h, t...), s...)
}

func xcopyCDB(plen int) []byte {
	c := make([]byte, 16)
	c[0] = scsi.OpExtendedCopy
	binary.BigEndian.PutUint32(c[10:14], uint32(plen))
	return c
}

func TestExtendedCopy(t *testing.T) {
	self := identDesc(testConfig().NAA, 0)
	other := identDesc(otherNAA, 0)
	one := [][]byte{self}
	seg := [][]byte{b2bSeg(0, 0, 8, 0, 100)}
	tooManyT := make([][]byte, maxTargetDescriptors+1)
	for i := range tooManyT {
		tooManyT[i] = self
	}
	tooManyS := make([][]byte, maxSegmentDescs+1)
	for i := range tooManyS {
		tooManyS[i] = seg[0]
	}
	badType := append([]byte(nil), self...)
	badType[0] = 0xE0
	stream := b2bSeg(0, 0, 1, 0, 0)
	stream[0] = 0x03
	tests := []struct {
		name           string
		list           []byte
		plen           int // -1: len(list)
		key, asc, ascq uint8
		io             pb.IoKind
	}{
		{"copy within the LU", xcopyList(1, 2, one, seg), -1, 0, 0, 0, pb.IoKind_IO_KIND_COPY},
		{"copy to another LU", xcopyList(1, 2, [][]byte{self, other}, [][]byte{b2bSeg(0, 1, 8, 0, 0)}), -1, 0, 0, 0, pb.IoKind_IO_KIND_COPY},
		{"no parameter list", nil, 0, 0, 0, 0, pb.IoKind_IO_KIND_UNSPECIFIED},
		{"truncated target descriptor", xcopyList(1, 0, one, seg), 16 + 31, 5, 0x1A, 0, pb.IoKind_IO_KIND_UNSPECIFIED},
		{"truncated segment descriptor", xcopyList(1, 0, one, seg), 16 + 32 + 27, 5, 0x1A, 0, pb.IoKind_IO_KIND_UNSPECIFIED},
		{"too many target descriptors", xcopyList(1, 0, tooManyT, seg), -1, 5, 0x26, 0x06, pb.IoKind_IO_KIND_UNSPECIFIED},
		{"too many segment descriptors", xcopyList(1, 0, one, tooManyS), -1, 5, 0x26, 0x08, pb.IoKind_IO_KIND_UNSPECIFIED},
		{"descriptor lists too long", xcopyList(1, 0, tooManyT, tooManyS), -1, 5, 0x1A, 0, pb.IoKind_IO_KIND_UNSPECIFIED},
		{"unsupported target descriptor", xcopyList(1, 0, [][]byte{badType}, seg), -1, 5, 0x26, 0x07, pb.IoKind_IO_KIND_UNSPECIFIED},
		{"unsupported segment descriptor", xcopyList(1, 0, one, [][]byte{stream}), -1, 5, 0x26, 0x09, pb.IoKind_IO_KIND_UNSPECIFIED},
		{"LU ID TYPE ignored (SPC-4)", xcopyList(1, 0, [][]byte{identDesc(testConfig().NAA, 0xC0)}, seg), -1, 0, 0, 0, pb.IoKind_IO_KIND_COPY},
		{"not a block device", xcopyList(1, 0, [][]byte{identDesc(testConfig().NAA, 0x01)}, seg), -1, 5, 0x26, 0, pb.IoKind_IO_KIND_UNSPECIFIED},
		{"bad target index", xcopyList(1, 0, one, [][]byte{b2bSeg(0, 1, 8, 0, 0)}), -1, 0x0A, 0x0D, 0x02, pb.IoKind_IO_KIND_UNSPECIFIED},
		{"unknown LU", xcopyList(1, 0, [][]byte{identDesc(0x3999, 0)}, seg), -1, 0x0A, 0x0D, 0x02, pb.IoKind_IO_KIND_UNSPECIFIED},
		{"beyond the end", xcopyList(1, 0, one, [][]byte{b2bSeg(0, 0, 8, 0, 999)}), -1, 0x0A, 0, 0, pb.IoKind_IO_KIND_UNSPECIFIED},
		{"beyond another LU's end", xcopyList(1, 0, [][]byte{self, other}, [][]byte{b2bSeg(0, 1, 8, 0, 99)}), -1, 0x0A, 0, 0, pb.IoKind_IO_KIND_UNSPECIFIED},
		{"reserved list id usage", xcopyList(1, 1, one, seg), -1, 5, 0x26, 0, pb.IoKind_IO_KIND_UNSPECIFIED},
		{"list id without usage", xcopyList(1, 3, one, seg), -1, 5, 0x26, 0, pb.IoKind_IO_KIND_UNSPECIFIED},
		{"LID4 service action", nil, -2, 5, 0x24, 0, pb.IoKind_IO_KIND_UNSPECIFIED},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := ready(t, copyConfig())
			plen := tc.plen
			if plen == -1 {
				plen = len(tc.list)
			}
			cdb := xcopyCDB(plen)
			if tc.plen == -2 {
				cdb[1] = 0x01
			}
			res := d.Execute(&Request{CDB: cdb, DataOut: tc.list, Nexus: "a"}, nil)
			if tc.key == 0 {
				if res.Status != scsi.StatusGood || res.IO.Kind != tc.io {
					t.Fatalf("status %d io %d, want GOOD io %d (sense %x)", res.Status, res.IO.Kind, tc.io, res.Sense)
				}
				return
			}
			if k, a, q := senseOf(res); k != tc.key || a != tc.asc || q != tc.ascq {
				t.Fatalf("sense %x/%02x/%02x, want %x/%02x/%02x", k, a, q, tc.key, tc.asc, tc.ascq)
			}
		})
	}
}

func TestExtendedCopyPlan(t *testing.T) {
	d := ready(t, copyConfig())
	list := xcopyList(7, 0, [][]byte{identDesc(testConfig().NAA, 0), identDesc(otherNAA, 0)},
		[][]byte{b2bSeg(0, 1, 8, 2, 3), b2bSeg(1, 0, 4, 5, 10)})
	res := d.Execute(&Request{CDB: xcopyCDB(len(list)), DataOut: list, Nexus: "a"}, nil)
	if res.IO.Kind != pb.IoKind_IO_KIND_COPY || len(res.IO.Segments) != 2 {
		t.Fatalf("plan %+v", res.IO)
	}
	want := []CopySegment{
		{SrcNAA: testConfig().NAA, DstNAA: otherNAA, SrcOffset: 2 * 512, DstOffset: 3 * 512, Length: 8 * 512,
			SrcBlockSize: 512, DstBlockSize: 512, SrcCSCD: 16, DstCSCD: 48, SrcSelf: true},
		{SrcNAA: otherNAA, DstNAA: testConfig().NAA, SrcOffset: 5 * 512, DstOffset: 10 * 512, Length: 4 * 512,
			SrcBlockSize: 512, DstBlockSize: 512, SrcCSCD: 48, DstCSCD: 16, DstSelf: true},
	}
	for i, s := range res.IO.Segments {
		if s != want[i] {
			t.Errorf("segment %d = %+v, want %+v", i, s, want[i])
		}
	}
	if sp := res.IO.Span(); sp.Offset != 10*512 || sp.Length != 4*512 {
		t.Errorf("span %+v: only the write to this LU", sp)
	}
	if res.IO.LocalCopy() {
		t.Error("a copy between two LUs planned as local: it would bypass the other LU's actor")
	}
	// The same list identifier while the copy runs is refused.
	if k, a, q := senseOf(d.Execute(&Request{CDB: xcopyCDB(len(list)), DataOut: list, Nexus: "a"}, nil)); k != 5 || a != 0 || q != 0x16 {
		t.Errorf("duplicate list id: %x/%02x/%02x, want OPERATION IN PROGRESS", k, a, q)
	}
}

func rcrCDB(sa, listID byte) []byte {
	c := make([]byte, 16)
	c[0], c[1], c[2] = scsi.OpReceiveCopyResults, sa, listID
	binary.BigEndian.PutUint32(c[10:14], 1024)
	return c
}

func TestReceiveCopyResults(t *testing.T) {
	d := ready(t, copyConfig())
	if k, a, _ := senseOf(d.Execute(&Request{CDB: rcrCDB(0, 1), Nexus: "a"}, nil)); k != 5 || a != 0x24 {
		t.Fatalf("no copy: %x/%02x, want INVALID FIELD IN CDB", k, a)
	}
	list := xcopyList(1, 0, [][]byte{identDesc(testConfig().NAA, 0)}, [][]byte{b2bSeg(0, 0, 8, 0, 100)})
	res := d.Execute(&Request{CDB: xcopyCDB(len(list)), DataOut: list, Nexus: "a"}, nil)
	st := d.Execute(&Request{CDB: rcrCDB(0, 1), Nexus: "a"}, nil)
	if st.Status != scsi.StatusGood || len(st.Data) != 12 || st.Data[4] != byte(copyRunning) {
		t.Fatalf("running copy status %x", st.Data)
	}
	d.IODone(res.IO.Token, nil)
	st = d.Execute(&Request{CDB: rcrCDB(0, 1), Nexus: "a"}, nil)
	if st.Data[4] != byte(copyGood) || binary.BigEndian.Uint16(st.Data[5:7]) != 1 || binary.BigEndian.Uint32(st.Data[8:12]) != 8*512 {
		t.Fatalf("finished copy status %x", st.Data)
	}
	// Reported once, then discarded; another nexus never sees it.
	if k, _, _ := senseOf(d.Execute(&Request{CDB: rcrCDB(0, 1), Nexus: "a"}, nil)); k != 5 {
		t.Errorf("status reported twice")
	}
	op := d.Execute(&Request{CDB: rcrCDB(3, 0), Nexus: "a"}, nil)
	if op.Status != scsi.StatusGood || binary.BigEndian.Uint32(op.Data[0:4]) < 40 ||
		binary.BigEndian.Uint16(op.Data[8:10]) != maxTargetDescriptors || op.Data[43] != 2 {
		t.Fatalf("operating parameters %x", op.Data)
	}
	if k, a, _ := senseOf(d.Execute(&Request{CDB: rcrCDB(1, 0), Nexus: "a"}, nil)); k != 5 || a != 0x24 {
		t.Errorf("RECEIVE DATA: %x/%02x, want INVALID FIELD IN CDB", k, a)
	}
}

// TestCopyManagerKeepsUnitAttention: a copy manager's READ on behalf of a nexus
// runs despite the nexus's pending unit attention and leaves it pending, so that
// the initiator's own next command learns of it.
func TestCopyManagerKeepsUnitAttention(t *testing.T) {
	d := New(testConfig())
	read := scsi.ReadWrite16(scsi.OpRead16, 0, 8)
	res := d.Execute(&Request{CDB: read, Nexus: "a", ExpectedLength: 4096, CopyManager: true}, nil)
	if res.Status != scsi.StatusGood || res.IO.Kind != pb.IoKind_IO_KIND_READ {
		t.Fatalf("copy manager's READ: %+v, want a READ plan", res)
	}
	if k, a, _ := senseOf(d.Execute(&Request{CDB: read, Nexus: "a", ExpectedLength: 4096}, nil)); k != 6 || a != 0x29 {
		t.Fatalf("the nexus's own READ: sense %x/%02x, want the POWER ON unit attention", k, a)
	}
}
