package lun

import (
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/scsi"
)

// copyChunk bounds the buffer an EXTENDED COPY moves data through.
const copyChunk = 1 << 20

// copySegments performs the segments of an EXTENDED COPY within this logical unit,
// in order, through one buffer: the LUN hands a worker only a copy whose segments
// all read and write its own medium, under its range locks (the copy's span covers
// every segment it writes); a copy that involves another logical unit goes through
// that unit's actor instead (copier.go). It stops at the first failure, which aborts
// the copy: COPY ABORTED with the cause as additional sense (SPC-4 6.4.3).
func (w *worker) copySegments(segs []*pb.CopySegment, stable bool) error {
	// One buffer as large as the longest segment needs (at most copyChunk): sized
	// from the first segment alone, a short first segment made every later one
	// move a block at a time.
	var longest int64
	for _, s := range segs {
		longest = max(longest, s.Length)
	}
	buf := make([]byte, min(int64(copyChunk), max(longest, 1)))
	for _, s := range segs {
		for done := int64(0); done < s.Length; {
			n := min(int64(len(buf)), s.Length-done)
			w.refresh()
			if w.abandoned() {
				return errAbandonedIO
			}
			got, err := w.b.ReadAt(buf[:n], s.SrcOffset+done)
			if err != nil || int64(got) < n {
				w.log.Error("copy: read failed", "offset", s.SrcOffset+done, "error", err)
				return scsi.CopyAborted(0x11, 0x00) // UNRECOVERED READ ERROR
			}
			w.refresh()
			if err := w.further(); err != nil {
				return err
			}
			if err := w.b.WriteAt(buf[:n], s.DstOffset+done, stable); err != nil {
				w.log.Error("copy: write failed", "offset", s.DstOffset+done, "error", err)
				return scsi.CopyAborted(0x0C, 0x00) // WRITE ERROR
			}
			done += n
		}
	}
	return nil
}
