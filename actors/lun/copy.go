package lun

import (
	"errors"
	"io"

	"github.com/atgt/atgt/actors/scsidev"
	"github.com/atgt/atgt/backend"
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
// the copy: COPY ABORTED with the cause as additional sense, as copyError gives it,
// reported for the segment that failed (segmentFailed).
func (w *worker) copySegments(segs []*pb.CopySegment, stable bool) error {
	// One buffer as large as the longest segment needs (at most copyChunk): sized
	// from the first segment alone, a short first segment made every later one
	// move a block at a time.
	var longest int64
	for _, s := range segs {
		longest = max(longest, s.Length)
	}
	buf := make([]byte, min(int64(copyChunk), max(longest, 1)))
	for i, s := range segs {
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
				return segmentFailed(w.copyError("read", s.SrcOffset+done, err, true), i, s, true, done)
			}
			w.refresh()
			if err := w.further(); err != nil {
				return err
			}
			if err := w.b.WriteAt(buf[:n], s.DstOffset+done, stable); err != nil {
				return segmentFailed(w.copyError("write", s.DstOffset+done, err, false), i, s, false, done)
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

// segmentFailed is err, which ended segment n (s) of a copy in its read (read) or
// its write with done bytes of s written, as SPC-5 5.17.7.4 (as SPC-4) has the copy
// manager report a COPY ABORTED: with the segment's number in COMMAND-SPECIFIC
// INFORMATION, a segment pointer to the CSCD descriptor of the copy target whose
// command failed, and, once part of the segment was written, the residual in
// destination blocks in INFORMATION. RECEIVE COPY STATUS reads how far the copy
// got from it (scsidev's copyProgress). Anything else passes through.
func segmentFailed(err error, n int, s *pb.CopySegment, read bool, done int64) error {
	se, ok := errors.AsType[*scsi.SenseError](err)
	if !ok || se.Key != scsi.SenseCopyAborted {
		return err
	}
	ptr := int(s.DstCscdOffset)
	if read {
		ptr = int(s.SrcCscdOffset)
	}
	if ptr == 0 { // not known: no pointer
		ptr = -1
	}
	out := scsi.InSegment(se, n, ptr, false)
	if done > 0 {
		out.Info, out.InfoValid = uint64((s.Length-done)/int64(max(s.DstBlockSize, 1))), true
	}
	return out
}

// copyAbort is the error a copy ends with once its segments are done: the COPY
// ABORTED the device model planned for the segment descriptor after them (sense,
// IoRequest.copy_abort), or nil.
func copyAbort(sense []byte) error {
	if len(sense) == 0 {
		return nil
	}
	if se, ok := scsi.ParseSense(sense); ok {
		return se
	}
	return scsi.InternalTargetFailure()
}
