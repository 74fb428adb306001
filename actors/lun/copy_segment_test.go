package lun

import (
	"bytes"
	"encoding/binary"
	"syscall"
	"testing"

	"github.com/atgt/atgt/backend"
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/scsi"
)

// failAt fails the reads (read) or writes of a store that cover byte at with err.
type failAt struct {
	backend.Backend
	read bool
	at   int64
	err  error
}

func (f failAt) hit(read bool, off int64, n int) bool {
	return f.err != nil && read == f.read && off <= f.at && f.at < off+int64(n)
}

func (f failAt) ReadAt(p []byte, off int64) (int, error) {
	if f.hit(true, off, len(p)) {
		return 0, f.err
	}
	return f.Backend.ReadAt(p, off)
}

func (f failAt) WriteAt(p []byte, off int64, stable bool) error {
	if f.hit(false, off, len(p)) {
		return f.err
	}
	return f.Backend.WriteAt(p, off, stable)
}

// heldCopy is xcopyTask with LIST ID USAGE 00b and list identifier id: the copy
// manager holds its status for RECEIVE COPY STATUS(LID1) (SPC-4 6.4.3.2, table 111).
func heldCopy(h *lunHarness, itt uint32, id byte, segs ...[]byte) *pb.ScsiTask {
	x := xcopyTask(h, itt, segs...)
	x.DataOut[0], x.DataOut[1] = id, 0
	return x
}

// copyStatus sends RECEIVE COPY STATUS(LID1) for list identifier id to h and
// returns the copy manager status, segments processed and transfer count in bytes
// (SPC-4 6.18.3).
func copyStatus(t *testing.T, h *lunHarness, itt uint32, id byte) (status byte, segments uint16, count uint64) {
	t.Helper()
	cdb := make([]byte, 16)
	cdb[0], cdb[1], cdb[2] = scsi.OpReceiveCopyResults, scsi.SACopyStatusLID1, id
	binary.BigEndian.PutUint32(cdb[10:14], 12)
	h.send(h.task(itt, cdb, nil))
	c := h.wait(1)[itt]
	if c == nil || c.Status != uint32(scsi.StatusGood) || len(c.DataIn) < 12 {
		t.Fatalf("RECEIVE COPY STATUS answered %+v", c)
	}
	d := c.DataIn
	return d[4] & 0x7F, binary.BigEndian.Uint16(d[5:7]), uint64(binary.BigEndian.Uint32(d[8:12])) << (10 * uint(d[7]))
}

// The failing segment of an EXTENDED COPY is reported as SPC-5 5.17.7.4 (as SPC-4,
// "errors detected during processing of segment descriptors") asks: COPY ABORTED,
// the segment's number (from 0) in bytes 2-3 of COMMAND-SPECIFIC INFORMATION
// (fixed-format sense bytes 8-11), and a segment pointer (4.5.2.4.5, bytes 15-17:
// SKSV, SD, FIELD POINTER) to the first byte of the CSCD descriptor of the copy
// target whose command failed (SD 0, from the start of the parameter list: A is at
// 16, B at 48), or to the field in error of the segment descriptor (SD 1); once part
// of the segment was written, its residual in destination blocks is in INFORMATION
// with VALID. RECEIVE COPY STATUS(LID1) of the copy then says it failed (COPY
// MANAGER STATUS 02h, SPC-4 6.18.3), with the segments processed before the one
// that failed and the bytes written. Found by a review: the sense named no segment,
// and the status reported 0 segments and 0 bytes for any failed copy.
func TestCopyFailedSegment(t *testing.T) {
	const seg0, mib = 8 * 512, 1 << 20
	for _, tc := range []struct {
		name     string
		onB      bool // the failing store is B's (else A's)
		read     bool
		at       int64 // byte of the failing store whose read or write fails
		segs     [][]byte
		asc      uint8 // COPY ABORTED's; ascq is 02h for 0Dh (NOT REACHABLE), else 0
		segment  uint32
		sd       bool
		ptr      uint16
		residual uint32 // 0: INFORMATION not valid
		written  uint64
	}{
		{"2nd of 3 local segments, write error", false, false, 200 * 512,
			[][]byte{seg(0, 0, 8, 0, 100), seg(0, 0, 8, 8, 200), seg(0, 0, 8, 16, 300)}, 0x0C, 1, false, 16, 0, seg0},
		{"1st of 3 local segments, read error", false, true, 0,
			[][]byte{seg(0, 0, 8, 0, 100), seg(0, 0, 8, 8, 200), seg(0, 0, 8, 16, 300)}, 0x11, 0, false, 16, 0, 0},
		{"2nd of 3 segments to another LU, its write error", true, false, 200 * 512,
			[][]byte{seg(0, 1, 8, 0, 100), seg(0, 1, 8, 8, 200), seg(0, 1, 8, 16, 300)}, 0x0C, 1, false, 48, 0, seg0},
		{"2nd of 3 segments from another LU, its read error", true, true, 8 * 512,
			[][]byte{seg(1, 0, 8, 0, 100), seg(1, 0, 8, 8, 200), seg(1, 0, 8, 16, 300)}, 0x11, 1, false, 48, 0, seg0},
		{"2nd segment names no CSCD descriptor", false, false, -1,
			[][]byte{seg(0, 0, 8, 0, 100), seg(5, 0, 8, 8, 200), seg(0, 0, 8, 16, 300)}, 0x0D, 1, true, 4, 0, seg0},
		{"2nd segment past the destination's end", false, false, -1,
			[][]byte{seg(0, 0, 8, 0, 100), seg(0, 1, 8, 8, 8190), seg(0, 0, 8, 16, 300)}, 0x00, 1, true, 20, 0, seg0},
		{"1st segment names no CSCD descriptor", false, false, -1,
			[][]byte{seg(0, 7, 8, 0, 100), seg(0, 0, 8, 8, 200), seg(0, 0, 8, 16, 300)}, 0x0D, 0, true, 6, 0, 0},
		// 3000 blocks: the second 1 MiB chunk's write fails, 952 blocks short.
		{"2nd segment fails after its first chunk", false, false, 4000*512 + mib,
			[][]byte{seg(0, 0, 8, 0, 100), seg(0, 0, 3000, 16, 4000), seg(0, 0, 8, 16, 300)}, 0x0C, 1, false, 16, 952, seg0 + mib},
		{"2nd segment to another LU fails after its first chunk", true, false, 4000*512 + mib,
			[][]byte{seg(0, 0, 8, 0, 100), seg(0, 1, 3000, 16, 4000), seg(0, 0, 8, 16, 300)}, 0x0C, 1, false, 48, 952, seg0 + mib},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ma, mb := backend.NewMemory(4<<20), backend.NewMemory(4<<20)
			var ba, bb backend.Backend = ma, mb
			if tc.at >= 0 {
				f := failAt{read: tc.read, at: tc.at, err: syscall.EIO}
				if tc.onB {
					f.Backend, bb = mb, &f
				} else {
					f.Backend, ba = ma, &f
				}
			}
			a, _ := copyPair(t, ba, bb)
			data := []backend.Backend{ma, mb}
			src := [][]byte{fillRand(t, ma, 0, 16*512, 0xA1), fillRand(t, mb, 0, 16*512, 0xB2)}
			a.send(heldCopy(a, 1, 9, tc.segs...))
			c := a.wait(1)[1]
			ascq := uint8(0)
			if tc.asc == 0x0D {
				ascq = 0x02
			}
			wantCopyAborted(t, c, tc.asc, ascq)
			s := c.Sense
			if got := binary.BigEndian.Uint32(s[8:12]); got != tc.segment {
				t.Errorf("COMMAND-SPECIFIC INFORMATION %d (sense %x), want segment %d", got, s, tc.segment)
			}
			sks := byte(0x80)
			if tc.sd {
				sks |= 0x20
			}
			if s[15] != sks || binary.BigEndian.Uint16(s[16:18]) != tc.ptr {
				t.Errorf("sense-key specific %x, want segment pointer SD %v to byte %d", s[15:18], tc.sd, tc.ptr)
			}
			valid, info := s[0]&0x80 != 0, binary.BigEndian.Uint32(s[3:7])
			if valid != (tc.residual != 0) || info != tc.residual {
				t.Errorf("INFORMATION %d (VALID %v), want residual %d", info, valid, tc.residual)
			}
			status, segments, count := copyStatus(t, a, 2, 9)
			if status != 0x02 || uint32(segments) != tc.segment || count != tc.written {
				t.Errorf("RECEIVE COPY STATUS: status %#x, %d segments processed, %d bytes; want 0x02 (failed), %d, %d",
					status, segments, count, tc.segment, tc.written)
			}
			if tc.written >= seg0 { // the first segment, 8 blocks from LBA 0 to LBA 100
				from, to := tc.segs[0][5], tc.segs[0][7]
				if got := readBack(t, data[to], 100*512, seg0); !bytes.Equal(got, src[from][:seg0]) {
					t.Error("the segment before the failed one was not copied")
				}
			}
		})
	}
}
