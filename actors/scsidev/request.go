package scsidev

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
}

// IOKind says what an IO worker must do for a command.
type IOKind uint8

// IO kinds.
const (
	IONone   IOKind = iota // no disk access; the Result is final
	IORead                 // read Length bytes at Offset
	IOWrite                // write Data at Offset
	IOSync                 // make [Offset, Offset+Length) durable
	IOVerify               // read Length bytes at Offset for comparison with Data
	// IOUnmap deallocates every extent of Extents.
	IOUnmap
	// IOWriteSame writes the one block in Data over [Offset, Offset+Length).
	IOWriteSame
	// IOLBAStatus reports the mapped and unmapped runs from Offset on,
	// at most MaxDescriptors of them, through LBAStatusData.
	IOLBAStatus
	// IOCompareAndWrite compares the first Length bytes of Data with the
	// medium at Offset and, only if they are equal, writes the second
	// Length bytes there (see CompareAndWriteData).
	IOCompareAndWrite
	// IOORWrite reads Length bytes at Offset, ORs Data into them and
	// writes the result back (see ORData).
	IOORWrite
	// IOCopy copies every segment of Segments from one logical unit of the
	// target to another (or the same), block to block (EXTENDED COPY).
	IOCopy
	// IOSanitizeOverwrite writes the one block in Data over [Offset,
	// Offset+Length) Passes times, inverted between passes when Invert is
	// set, at most Rate bytes per second, then makes it durable.
	IOSanitizeOverwrite
	// IOSanitizeErase deallocates [Offset, Offset+Length) and makes that
	// durable (SANITIZE BLOCK ERASE).
	IOSanitizeErase
)

// Extent is a byte range of the medium.
type Extent struct {
	Offset, Length int64
}

// Writes reports whether the IO changes the medium, so the LUN must order it
// against COMPARE AND WRITE and ORWRITE on overlapping blocks.
func (k IOKind) Writes() bool {
	switch k {
	case IOWrite, IOUnmap, IOWriteSame, IOCompareAndWrite, IOORWrite,
		IOCopy, IOSanitizeOverwrite, IOSanitizeErase:
		return true
	}
	return false
}

// Exclusive reports whether the IO reads and then writes the same blocks and
// so must not overlap any other write in flight (SBC-3 5.2: COMPARE AND
// WRITE is atomic; ORWRITE likewise).
//
// A SANITIZE is exclusive too: it starts only once every write in flight has
// finished, so none lands on the medium after it was erased.
func (k IOKind) Exclusive() bool {
	switch k {
	case IOCompareAndWrite, IOORWrite, IOSanitizeOverwrite, IOSanitizeErase:
		return true
	}
	return false
}

// CopySegment is one block-to-block segment of an EXTENDED COPY in bytes,
// its logical units named by their NAA designators.
type CopySegment struct {
	SrcNAA, DstNAA       uint64
	SrcOffset, DstOffset int64
	Length               int64
	// DstSelf is set when the destination is this logical unit, whose
	// range locks then cover the write.
	DstSelf bool
}

// IO is the disk work a command needs, planned by Execute and performed by
// an IO worker outside the LUN.
type IO struct {
	Kind   IOKind
	Offset int64
	Length int64
	// Stable asks that the write be durable before GOOD (FUA or WCE=0).
	Stable bool
	// Data is the payload for IOWrite, the expected data for IOVerify, the
	// one block for IOWriteSame, verify then write data for
	// IOCompareAndWrite, the OR mask for IOORWrite.
	Data []byte
	// Extents are the ranges of IOUnmap.
	Extents []Extent
	// MaxDescriptors bounds the runs IOLBAStatus reports.
	MaxDescriptors uint32
	// Segments are the copies of IOCopy, in order.
	Segments []CopySegment
	// Passes, Invert and Rate shape IOSanitizeOverwrite (Rate 0: no
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
}

// Span is the smallest byte range covering everything the IO touches, for
// the LUN's range locks.
func (io IO) Span() Extent {
	if io.Kind == IOCopy {
		return io.copySpan()
	}
	if io.Kind != IOUnmap {
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
	// IO, when its Kind is not IONone, must be performed and handed to
	// Complete; Status and Data are then not final.
	IO IO
	// SaveModes, when not nil, is saved mode state (SavedModes.Marshal)
	// that must be written durably before the result is reported; if that
	// fails the command must end in CHECK CONDITION instead.
	SaveModes []byte
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
