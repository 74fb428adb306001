package lun

import (
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/scsi"
)

// copyChunk bounds the buffer an EXTENDED COPY moves data through.
const copyChunk = 1 << 20

// copySegments performs the segments of an EXTENDED COPY in order, reading
// from the source LU's backend and writing to the destination's through one
// buffer. It stops at the first failure, which aborts the copy: COPY ABORTED
// with the cause as additional sense (SPC-4 6.4.3).
func (w *worker) copySegments(segs []*pb.CopySegment, stable bool) error {
	var buf []byte
	for _, s := range segs {
		src, dst := w.peers.Lookup(s.SrcNaa), w.peers.Lookup(s.DstNaa)
		if src == nil || dst == nil {
			return scsi.CopyTargetNotReachable()
		}
		if buf == nil {
			buf = make([]byte, min(int64(copyChunk), max(s.Length, 1)))
		}
		for done := int64(0); done < s.Length; {
			n := min(int64(len(buf)), s.Length-done)
			if int64(len(buf)) < n {
				buf = make([]byte, n)
			}
			w.refresh()
			got, err := src.ReadAt(buf[:n], s.SrcOffset+done)
			if err != nil || int64(got) < n {
				w.log.Error("copy: read failed", "offset", s.SrcOffset+done, "error", err)
				return scsi.CopyAborted(0x11, 0x00) // UNRECOVERED READ ERROR
			}
			w.refresh()
			if err := dst.WriteAt(buf[:n], s.DstOffset+done, stable); err != nil {
				w.log.Error("copy: write failed", "offset", s.DstOffset+done, "error", err)
				return scsi.CopyAborted(0x0C, 0x00) // WRITE ERROR
			}
			done += n
		}
	}
	return nil
}
