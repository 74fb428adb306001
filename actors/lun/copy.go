package lun

import (
	"errors"
	"io"

	"github.com/atgt/atgt/actors/scsidev"
	"github.com/atgt/atgt/backend"
	pb "github.com/atgt/atgt/messages/atgtv1"
)

// copyChunk bounds the buffer an EXTENDED COPY moves data through.
const copyChunk = 1 << 20

// copySegments performs the segments of an EXTENDED COPY within this logical unit,
// in order, through one buffer: the LUN hands a worker only a copy whose segments
// all read and write its own medium, under its range locks (the copy's span covers
// every segment it writes); a copy that involves another logical unit goes through
// that unit's actor instead (copier.go). It stops at the first failure, which aborts
// the copy: COPY ABORTED with the cause as additional sense (SPC-4 6.4.3), as
// copyError gives it.
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
			if err == nil && int64(got) < n {
				err = io.ErrUnexpectedEOF
			}
			if err != nil {
				return w.copyError("read", s.SrcOffset+done, err, true)
			}
			w.refresh()
			if err := w.further(); err != nil {
				return err
			}
			if err := w.b.WriteAt(buf[:n], s.DstOffset+done, stable); err != nil {
				return w.copyError("write", s.DstOffset+done, err, false)
			}
			done += n
		}
	}
	return nil
}

// copyError is the answer to a local copy whose read (read) or write at off failed
// with the store error err. A fenced client's refusal never reached the store and
// passes through (the worker answers it NOT READY, which initiators retry, as for
// any IO); anything else aborts the copy with the cause the normal error table gives
// (out of space on a thin LU 27/07, read-only 27/00, device gone 04/03, time-out
// 08/01, else a read or write error), as COPY ABORTED (scsidev.CopyStoreError).
func (w *worker) copyError(op string, off int64, err error, read bool) error {
	if errors.Is(err, backend.ErrFenced) {
		return err
	}
	w.log.Error("copy: "+op+" failed", "offset", off, "error", err)
	return scsidev.CopyStoreError(err, read, w.thin)
}
