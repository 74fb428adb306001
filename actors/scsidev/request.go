package scsidev

import (
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/scsi"
)

// Request is one SCSI command as the LUN sees it.
type Request struct {
	CDB []byte
	// DataOut is the write payload or parameter list, already fully
	// received.
	DataOut []byte
	// DataOutLength is, when DataOut is nil, the length of WRITE data that the
	// IO worker holds in parts: the device plans the write without the bytes.
	DataOutLength int64
	// Nexus identifies the I_T nexus (initiator name + ISID) for unit
	// attentions.
	Nexus string
	// ExpectedLength is the iSCSI Expected Data Transfer Length.
	ExpectedLength uint32
	// CopyManager marks a READ or WRITE an EXTENDED COPY's copy manager sends
	// on behalf of Nexus: checked like that nexus's own command, except that
	// it neither reports nor clears the nexus's unit attentions.
	CopyManager bool
}

// Extent is a byte range of the medium.
type Extent struct {
	Offset, Length int64
}

// CopySegment is one block-to-block segment of an EXTENDED COPY in bytes,
// its logical units named by their NAA designators.
type CopySegment struct {
	SrcNAA, DstNAA       uint64
	SrcOffset, DstOffset int64
	Length               int64
	// SrcBlockSize and DstBlockSize are the two logical units' block sizes.
	SrcBlockSize, DstBlockSize uint32
	// SrcCSCD and DstCSCD are the offsets in the parameter list of the CSCD
	// descriptors naming the source and the destination: a COPY ABORTED for a
	// command to one of them points there (SPC-5 5.17.7.4).
	SrcCSCD, DstCSCD int
	// SrcSelf and DstSelf are set when the source or the destination is this
	// logical unit. A copy whose segments are all within it runs in one of
	// its IO workers under its range locks; any other is performed by a copy
	// manager through the other logical units' actors (actors/lun/copier.go).
	SrcSelf, DstSelf bool
}

// Local reports whether the segment reads and writes this logical unit only.
func (s CopySegment) Local() bool { return s.SrcSelf && s.DstSelf }

// IO is the disk work a command needs, planned by Execute and performed by
// an IO worker outside the LUN. Its kind is the IoKind the worker switches
// on (proto/atgt/v1/task.proto says what each does), so the plan needs no
// translating on its way.
type IO struct {
	// Kind is IO_KIND_UNSPECIFIED when there is nothing to do.
	Kind   pb.IoKind
	Offset int64
	Length int64
	// Stable asks that the write be durable before GOOD (FUA or WCE=0); on
	// SAVE_MODE_PAGES, that the medium be synced before the file is written
	// (MODE SELECT turned the write cache off).
	Stable bool
	// Data is the payload of a WRITE, the expected data of a VERIFY, the
	// one block of a WRITE SAME or SANITIZE OVERWRITE, verify then write
	// data of a COMPARE AND WRITE, the OR mask of an ORWRITE, or the state
	// file contents of PERSIST_RESERVATIONS and SAVE_MODE_PAGES.
	Data []byte
	// Extents are the ranges of an UNMAP.
	Extents []Extent
	// MaxDescriptors bounds the runs LBA_STATUS reports.
	MaxDescriptors uint32
	// Segments are the copies of a COPY, in order.
	Segments []CopySegment
	// CopyAbort, when set, ends a COPY with this COPY ABORTED once its segments
	// are copied: the segment descriptor after them cannot be carried out.
	CopyAbort *scsi.SenseError
	// Passes, Invert and Rate shape SANITIZE_OVERWRITE (Rate 0: no
	// limit, in bytes per second).
	Passes uint32
	Invert bool
	Rate   uint64
	// Immediate means the command is answered GOOD at once (SANITIZE with
	// IMMED) and the IO goes on in the background.
	Immediate bool
	// Token, when non-zero, names device state that waits for this IO:
	// the LUN hands it to Device.IODone with the outcome.
	Token uint64
	// Thin is set by the worker for a thin provisioned LU: a store out of space
	// is then SPACE ALLOCATION FAILED, not a write error (errno.go).
	Thin bool
}

// Span is the smallest byte range covering everything the IO touches, for
// the LUN's range locks.
func (io IO) Span() Extent {
	if io.Kind == pb.IoKind_IO_KIND_COPY {
		return io.copySpan()
	}
	if io.Kind != pb.IoKind_IO_KIND_UNMAP {
		return Extent{Offset: io.Offset, Length: io.Length}
	}
	if len(io.Extents) == 0 {
		return Extent{}
	}
	lo, hi := io.Extents[0].Offset, io.Extents[0].Offset+io.Extents[0].Length
	for _, e := range io.Extents[1:] {
		lo, hi = min(lo, e.Offset), max(hi, e.Offset+e.Length)
	}
	return Extent{Offset: lo, Length: hi - lo}
}

// Result is the outcome of Execute or Complete.
type Result struct {
	Status uint8
	// Sense is the sense data for CHECK CONDITION.
	Sense []byte
	// Data is the data-in to return, already cut to the allocation length.
	Data []byte
	// IO, when its Kind is not IO_KIND_UNSPECIFIED, must be performed and
	// the outcome made with CompleteIO; Status and Data are then not final.
	IO IO
	// Refused is set when a check before the command ended it (not ready, a
	// unit attention, a reservation conflict): nothing of its data was
	// transferred, whatever its CDB asked for.
	Refused bool
}

// LocalCopy reports whether every segment of a COPY reads and writes this
// logical unit only, so that one of its IO workers can perform it under its
// range locks.
func (io IO) LocalCopy() bool {
	for _, s := range io.Segments {
		if !s.Local() {
			return false
		}
	}
	return true
}

// copySpan covers the segments that write to this logical unit; a copy to
// other logical units only has an empty span here.
func (io IO) copySpan() Extent {
	var lo, hi int64
	first := true
	for _, s := range io.Segments {
		if !s.DstSelf || s.Length == 0 {
			continue
		}
		if first {
			lo, hi, first = s.DstOffset, s.DstOffset+s.Length, false
			continue
		}
		lo, hi = min(lo, s.DstOffset), max(hi, s.DstOffset+s.Length)
	}
	return Extent{Offset: lo, Length: hi - lo}
}
