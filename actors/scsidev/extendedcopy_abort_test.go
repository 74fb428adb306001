package scsidev

import (
	"encoding/binary"
	"testing"

	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/scsi"
)

// A segment descriptor the device model finds it cannot carry out aborts the copy
// as the copy manager would on reaching it (SPC-5 5.17.7.4, as SPC-4): the segments
// before it are planned, to be copied first, and the copy then ends COPY ABORTED
// with the segment's number in COMMAND-SPECIFIC INFORMATION and a segment pointer
// to the CSCD descriptor at fault (SD 0, from the parameter list's start; self is at
// 16, other at 48) or to the segment descriptor's field in error (SD 1). When it is
// the first segment, nothing is copied: the command ends at once, and RECEIVE COPY
// STATUS(LID1) reports the copy failed with 0 segments processed (SPC-4 6.18.3).
func TestExtendedCopySegmentAbort(t *testing.T) {
	self, other := identDesc(testConfig().NAA, 0), identDesc(otherNAA, 0)
	ok := b2bSeg(0, 0, 8, 0, 100)
	dc := b2bSeg(0, 1, 3, 0, 0) // 3 source blocks of 512 bytes: no whole 4096-byte block
	other4k := identDesc(otherNAA, 0)
	other4k[30] = 0x10 // block length 4096
	ro := copyConfig()
	ro.CopyTargets = func(naa uint64) (CopyTarget, bool) {
		return CopyTarget{BlockSize: 512, Blocks: 100, ReadOnly: true}, naa == otherNAA
	}
	big := copyConfig()
	big.CopyTargets = func(naa uint64) (CopyTarget, bool) { return CopyTarget{BlockSize: 4096, Blocks: 100}, naa == otherNAA }
	for _, tc := range []struct {
		name      string
		cfg       Config
		targets   [][]byte
		segs      [][]byte
		planned   int // segments planned before the abort
		asc, ascq uint8
		sd        bool
		ptr       uint16
	}{
		{"source index past the CSCD descriptors", copyConfig(), [][]byte{self}, [][]byte{ok, b2bSeg(3, 0, 8, 0, 0), ok}, 1, 0x0D, 0x02, true, 4},
		{"destination index past the CSCD descriptors", copyConfig(), [][]byte{self}, [][]byte{ok, b2bSeg(0, 3, 8, 0, 0), ok}, 1, 0x0D, 0x02, true, 6},
		{"unknown LU", copyConfig(), [][]byte{self, identDesc(0x3999, 0)}, [][]byte{ok, ok, b2bSeg(0, 1, 8, 0, 0)}, 2, 0x0D, 0x02, false, 48},
		{"write-protected destination", ro, [][]byte{self, other}, [][]byte{ok, b2bSeg(0, 1, 8, 0, 0)}, 1, 0x27, 0x00, false, 48},
		{"count not whole blocks of both", big, [][]byte{self, other4k}, [][]byte{ok, dc}, 1, 0, 0, true, 10},
		{"source past its end", copyConfig(), [][]byte{self}, [][]byte{ok, b2bSeg(0, 0, 8, 2045, 0)}, 1, 0, 0, true, 12},
		{"destination past its end", copyConfig(), [][]byte{self, other}, [][]byte{ok, ok, b2bSeg(0, 1, 8, 0, 95)}, 2, 0, 0, true, 20},
		{"the first segment", copyConfig(), [][]byte{self, other}, [][]byte{b2bSeg(0, 1, 8, 0, 95), ok}, 0, 0, 0, true, 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := ready(t, tc.cfg)
			list := xcopyList(4, 0, tc.targets, tc.segs)
			res := d.Execute(&Request{CDB: xcopyCDB(len(list)), DataOut: list, Nexus: "a"}, nil)
			abort := res.IO.CopyAbort
			if tc.planned == 0 {
				if res.IO.Kind != pb.IoKind_IO_KIND_UNSPECIFIED {
					t.Fatalf("planned %+v, want nothing to copy", res.IO)
				}
				abort, _ = scsi.ParseSense(res.Sense)
			} else if res.IO.Kind != pb.IoKind_IO_KIND_COPY || len(res.IO.Segments) != tc.planned {
				t.Fatalf("planned %d segments (%+v), want %d", len(res.IO.Segments), res.IO, tc.planned)
			}
			if abort == nil || abort.Key != scsi.SenseCopyAborted || abort.ASC != tc.asc || abort.ASCQ != tc.ascq {
				t.Fatalf("abort %+v, want COPY ABORTED %02x/%02x", abort, tc.asc, tc.ascq)
			}
			if abort.CmdInfo != uint32(tc.planned) || !abort.SKSV || abort.SD != tc.sd || abort.FieldPointer != tc.ptr {
				t.Errorf("abort %+v: want segment %d, segment pointer SD %v to byte %d", abort, tc.planned, tc.sd, tc.ptr)
			}
			if tc.planned > 0 {
				d.IODone(res.IO.Token, abort) // the planned segments copied, then the abort
			}
			st := d.Execute(&Request{CDB: rcrCDB(0, 4), Nexus: "a"}, nil)
			if st.Status != scsi.StatusGood || st.Data[4] != byte(copyFailed) ||
				binary.BigEndian.Uint16(st.Data[5:7]) != uint16(tc.planned) ||
				binary.BigEndian.Uint32(st.Data[8:12]) != uint32(tc.planned)*8*512 {
				t.Errorf("RECEIVE COPY STATUS %x, want failed, %d segments, %d bytes", st.Data, tc.planned, tc.planned*8*512)
			}
		})
	}
}

// An error in the parameter list is found before any segment is processed, even
// after a segment that would abort the copy: the command ends with it, ILLEGAL
// REQUEST, not COPY ABORTED, and no copy is held (SPC-5 5.17.7.3).
func TestExtendedCopyListErrorBeforeAbort(t *testing.T) {
	d := ready(t, copyConfig())
	stream := b2bSeg(0, 0, 1, 0, 0)
	stream[0] = 0x03
	list := xcopyList(4, 0, [][]byte{identDesc(testConfig().NAA, 0)}, [][]byte{b2bSeg(0, 0, 8, 0, 100), b2bSeg(0, 5, 8, 0, 0), stream})
	if k, a, q := senseOf(d.Execute(&Request{CDB: xcopyCDB(len(list)), DataOut: list, Nexus: "a"}, nil)); k != 5 || a != 0x26 || q != 0x09 {
		t.Fatalf("sense %x/%02x/%02x, want UNSUPPORTED SEGMENT DESCRIPTOR TYPE CODE", k, a, q)
	}
	if k, a, _ := senseOf(d.Execute(&Request{CDB: rcrCDB(0, 4), Nexus: "a"}, nil)); k != 5 || a != 0x24 {
		t.Errorf("RECEIVE COPY STATUS %x/%02x, want INVALID FIELD IN CDB: no copy began", k, a)
	}
}

// RECEIVE COPY STATUS(LID1) of a copy that failed reports COPY MANAGER STATUS 02h
// with the segments processed before the one that failed and the bytes written,
// that segment's included up to the residual its COPY ABORTED gave in destination
// blocks (SPC-4 6.18.3; SPC-5 5.17.7.4 c). A copy that ended otherwise (aborted by
// task management) reports nothing processed.
func TestReceiveCopyStatusFailed(t *testing.T) {
	residual := scsi.InSegment(scsi.CopyAborted(0x0C, 0), 1, 16, false)
	residual.Info, residual.InfoValid = 3, true
	for _, tc := range []struct {
		name     string
		failure  error
		segments uint16
		bytes    uint32
	}{
		{"segment 1 of 3", scsi.InSegment(scsi.CopyAborted(0x0C, 0), 1, 16, false), 1, 8 * 512},
		{"segment 2 of 3", scsi.InSegment(scsi.CopyAborted(0x11, 0), 2, 16, false), 2, 8*512 + 16*512},
		{"segment 0 of 3", scsi.InSegment(scsi.CopyAborted(0x0C, 0), 0, 16, false), 0, 0},
		{"segment 1, 3 blocks short", residual, 1, 8*512 + 13*512},
		{"task aborted", scsi.AbortedCommand(0, 0), 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := ready(t, copyConfig())
			list := xcopyList(4, 0, [][]byte{identDesc(testConfig().NAA, 0)},
				[][]byte{b2bSeg(0, 0, 8, 0, 100), b2bSeg(0, 0, 16, 8, 200), b2bSeg(0, 0, 4, 24, 300)})
			res := d.Execute(&Request{CDB: xcopyCDB(len(list)), DataOut: list, Nexus: "a"}, nil)
			d.IODone(res.IO.Token, tc.failure)
			st := d.Execute(&Request{CDB: rcrCDB(0, 4), Nexus: "a"}, nil)
			if st.Status != scsi.StatusGood || st.Data[4] != byte(copyFailed) || st.Data[7] != 0 ||
				binary.BigEndian.Uint16(st.Data[5:7]) != tc.segments || binary.BigEndian.Uint32(st.Data[8:12]) != tc.bytes {
				t.Errorf("RECEIVE COPY STATUS %x, want failed (02h), %d segments, %d bytes", st.Data, tc.segments, tc.bytes)
			}
		})
	}
}
