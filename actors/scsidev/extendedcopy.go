package scsidev

import (
	"encoding/binary"

	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/scsi"
)

// EXTENDED COPY (LID1) limits, as RECEIVE COPY RESULTS (OPERATING
// PARAMETERS) reports them. A copy inside one target needs two target
// descriptors at most; a few more let an initiator name several LUNs in one
// list. maxDescListBytes is checked before the counts, so it leaves room for
// the most descriptors of either kind with one of the other.
const (
	xcopyHeaderLen       = 16
	targetDescLen        = 32
	blockSegmentDescLen  = 28
	maxTargetDescriptors = 8
	maxSegmentDescs      = 64
	maxDescListBytes     = 2048
	// maxSegmentBlocks is what the 16-bit NUMBER OF BLOCKS field holds.
	maxSegmentBlocks = 0xFFFF
	// maxHeldCopies bounds the copy statuses held per I_T nexus; the
	// oldest finished one is dropped first.
	maxHeldCopies = 16
)

// Descriptor type codes this copy manager implements (SPC-4 6.4.5, 6.4.6).
const (
	segBlockToBlock     = 0x02
	targetIdentDesc     = 0xE4
	firstTargetDescCode = 0xC0
)

// LIST ID USAGE values of the LID1 parameter list header (SPC-4 table 111).
const (
	listIDHold     = 0 // hold the status for RECEIVE COPY RESULTS
	listIDReserved = 1
	listIDNoHold   = 2 // list identifier unique, no status held
	listIDNone     = 3 // no list identifier
)

// copyTarget is one target descriptor resolved to a logical unit of this
// target; ok is false for an unknown designator.
type copyTarget struct {
	CopyTarget
	naa  uint64
	self bool
	ok   bool
}

// extendedCopy implements EXTENDED COPY (LID1) (SPC-4 6.4) for block-to-block
// segments between logical units of this target, named by identification
// descriptor target descriptors that carry an NAA designator. The whole
// parameter list is checked here; the copy itself is an IO plan.
func (d *Device) extendedCopy(cdb []byte, r *Request) (Result, error) {
	if cdb[1]&0x1F != scsi.SAExtendedCopyLID1 {
		return Result{}, scsi.InvalidFieldInCDB(1, 4)
	}
	plen := binary.BigEndian.Uint32(cdb[10:14])
	if plen == 0 {
		return good(nil), nil // SPC-4: no parameter list is not an error
	}
	if uint64(len(r.DataOut)) < uint64(plen) || plen < xcopyHeaderLen {
		return Result{}, scsi.ParameterListLengthError()
	}
	p := r.DataOut[:plen]
	listID := p[0]
	usage := (p[1] >> 3) & 0x03
	tlen := int(binary.BigEndian.Uint16(p[2:4]))
	slen := int64(binary.BigEndian.Uint32(p[8:12]))
	ilen := int64(binary.BigEndian.Uint32(p[12:16]))
	if int64(tlen)+slen > maxDescListBytes || xcopyHeaderLen+int64(tlen)+slen+ilen > int64(plen) {
		return Result{}, scsi.ParameterListLengthError()
	}
	switch {
	case usage == listIDReserved:
		return Result{}, scsi.InvalidFieldInParamList(1, 4)
	case usage == listIDNone && listID != 0:
		return Result{}, scsi.InvalidFieldInParamList(0, -1)
	case ilen != 0: // no segment descriptor this copy manager implements uses inline data
		return Result{}, scsi.InvalidFieldInParamList(12, -1)
	}
	targets, err := d.copyTargets(p, tlen)
	if err != nil {
		return Result{}, err
	}
	segs, abort, err := d.copySegments(p, xcopyHeaderLen+tlen, xcopyHeaderLen+tlen+int(slen), targets)
	if err != nil {
		return Result{}, err
	}
	if usage != listIDNone {
		if st := d.copies[r.Nexus][listID]; st != nil && st.status == copyRunning {
			return Result{}, scsi.OperationInProgress()
		}
	}
	var total int64
	for _, s := range segs {
		total += s.Length
	}
	pend := pendingIO{kind: pb.IoKind_IO_KIND_COPY, nexus: r.Nexus}
	if usage != listIDNone {
		pend.copy = d.holdCopy(r.Nexus, listID, usage == listIDHold, segs)
	}
	if abort != nil && len(segs) == 0 {
		// The first segment cannot be carried out: nothing to copy.
		d.copyDone(pend, abort)
		return Result{}, abort
	}
	return Result{IO: IO{Kind: pb.IoKind_IO_KIND_COPY, Segments: segs, Length: total, Stable: !d.wce,
		CopyAbort: abort, Token: d.track(pend)}}, nil
}

// copyTargets checks the target descriptor list, which starts after the
// header and is tlen bytes long, and resolves each descriptor.
func (d *Device) copyTargets(p []byte, tlen int) ([]copyTarget, error) {
	if tlen%targetDescLen != 0 {
		return nil, scsi.InvalidFieldInParamList(2, -1)
	}
	if tlen/targetDescLen > maxTargetDescriptors {
		return nil, scsi.TooManyTargetDescriptors()
	}
	var out []copyTarget
	for off := xcopyHeaderLen; off < xcopyHeaderLen+tlen; off += targetDescLen {
		desc := p[off : off+targetDescLen]
		if desc[0] != targetIdentDesc {
			if desc[0] < firstTargetDescCode {
				return nil, scsi.InvalidFieldInParamList(off, -1)
			}
			return nil, scsi.UnsupportedTargetDescriptorType(off)
		}
		// Byte 1 holds LU ID TYPE and NUL, obsolete in SPC-4 and ignored
		// (libiscsi expects that of a VERSION 6 device), and the peripheral
		// device type: only direct access block devices are copy targets.
		if desc[1]&0x1F != 0 {
			return nil, scsi.InvalidFieldInParamList(off+1, 4)
		}
		t := d.resolveCopyTarget(desc[4:28])
		if bs := uint32(desc[29])<<16 | uint32(desc[30])<<8 | uint32(desc[31]); t.ok && bs != 0 && bs != t.BlockSize {
			return nil, scsi.InvalidFieldInParamList(off+29, -1)
		}
		out = append(out, t)
	}
	return out, nil
}

// resolveCopyTarget finds the logical unit an identification descriptor's
// designator (header and designator, 24 bytes) names: only a binary NAA
// designator of a logical unit is understood.
func (d *Device) resolveCopyTarget(des []byte) copyTarget {
	codeSet, assocType, n := des[0]&0x0F, des[1]&0x3F, int(des[3])
	if codeSet != codeSetBinary || assocType != assocLU|typeNAA || n != 8 {
		return copyTarget{}
	}
	naa := binary.BigEndian.Uint64(des[4:12])
	if naa == d.cfg.NAA {
		_, wp := d.writeProtected()
		return copyTarget{CopyTarget: CopyTarget{BlockSize: d.cfg.BlockSize, Blocks: d.cfg.Blocks, ReadOnly: wp},
			naa: naa, self: true, ok: true}
	}
	if d.cfg.CopyTargets == nil {
		return copyTarget{}
	}
	ct, ok := d.cfg.CopyTargets(naa)
	if !ok || ct.BlockSize == 0 {
		return copyTarget{}
	}
	return copyTarget{CopyTarget: ct, naa: naa, ok: true}
}

// copySegments checks the segment descriptors in p[start:end] against the
// resolved targets and turns them into byte ranges. An error in the list ends
// the command before any copying (err, SPC-5 5.17.7.3); a segment that cannot
// be carried out (blockSegment) is the copy's abort instead: the segments
// before it are returned, to be copied first, and abort is the COPY ABORTED
// the copy then ends with, as on reaching that segment (SPC-5 5.17.7.4).
func (d *Device) copySegments(p []byte, start, end int, targets []copyTarget) (segs []CopySegment, abort *scsi.SenseError, err error) {
	n := 0
	for off := start; off < end; n++ {
		if off+4 > end {
			return nil, nil, scsi.ParameterListLengthError()
		}
		if p[off] != segBlockToBlock {
			if p[off] >= firstTargetDescCode {
				return nil, nil, scsi.InvalidFieldInParamList(off, -1)
			}
			return nil, nil, scsi.UnsupportedSegmentDescriptorType(off)
		}
		if n == maxSegmentDescs {
			return nil, nil, scsi.TooManySegmentDescriptors()
		}
		if int(binary.BigEndian.Uint16(p[off+2:off+4]))+4 != blockSegmentDescLen {
			return nil, nil, scsi.InvalidFieldInParamList(off+2, -1)
		}
		if off+blockSegmentDescLen > end {
			return nil, nil, scsi.ParameterListLengthError()
		}
		if abort == nil {
			s, bad := d.blockSegment(p[off:off+blockSegmentDescLen], n, targets)
			if bad != nil {
				abort = bad
			} else {
				segs = append(segs, s)
			}
		}
		off += blockSegmentDescLen
	}
	return segs, abort, nil
}

// cscdOffset is where target descriptor i starts in the parameter list.
func cscdOffset(i int) int { return xcopyHeaderLen + i*targetDescLen }

// blockSegment checks block-to-block segment descriptor n (SPC-4 6.4.6.5).
// What can only be found out by trying (an unknown target, a range
// past the end, a write-protected destination) aborts the copy, as the copy
// manager would on reaching the segment, with the segment's number and a
// pointer to the CSCD descriptor of the target at fault, or to the field of
// the segment descriptor in error (SPC-5 5.17.7.4 f, g).
func (d *Device) blockSegment(desc []byte, n int, targets []copyTarget) (CopySegment, *scsi.SenseError) {
	si, di := int(binary.BigEndian.Uint16(desc[4:6])), int(binary.BigEndian.Uint16(desc[6:8]))
	switch {
	case si >= len(targets):
		return CopySegment{}, scsi.InSegment(scsi.CopyTargetNotReachable(), n, 4, true)
	case di >= len(targets):
		return CopySegment{}, scsi.InSegment(scsi.CopyTargetNotReachable(), n, 6, true)
	case !targets[si].ok:
		return CopySegment{}, scsi.InSegment(scsi.CopyTargetNotReachable(), n, cscdOffset(si), false)
	case !targets[di].ok:
		return CopySegment{}, scsi.InSegment(scsi.CopyTargetNotReachable(), n, cscdOffset(di), false)
	}
	src, dst := targets[si], targets[di]
	if dst.ReadOnly {
		return CopySegment{}, scsi.InSegment(scsi.CopyAborted(0x27, 0x00), n, cscdOffset(di), false)
	}
	blocks := uint64(binary.BigEndian.Uint16(desc[10:12]))
	unit := src.BlockSize
	if desc[1]&0x02 != 0 { // DC: the count is in destination blocks
		unit = dst.BlockSize
	}
	size := blocks * uint64(unit)
	if size%uint64(src.BlockSize) != 0 || size%uint64(dst.BlockSize) != 0 {
		return CopySegment{}, scsi.InSegment(scsi.CopyAborted(0x00, 0x00), n, 10, true)
	}
	// libiscsi (ValidSegDescr) expects COPY ABORTED with no more precise
	// additional sense for a segment past the end of a target.
	srcLBA, dstLBA := binary.BigEndian.Uint64(desc[12:20]), binary.BigEndian.Uint64(desc[20:28])
	if !inRange(srcLBA, size/uint64(src.BlockSize), src.Blocks) {
		return CopySegment{}, scsi.InSegment(scsi.CopyAborted(0x00, 0x00), n, 12, true)
	}
	if !inRange(dstLBA, size/uint64(dst.BlockSize), dst.Blocks) {
		return CopySegment{}, scsi.InSegment(scsi.CopyAborted(0x00, 0x00), n, 20, true)
	}
	return CopySegment{
		SrcNAA: src.naa, DstNAA: dst.naa,
		SrcOffset: int64(srcLBA) * int64(src.BlockSize), DstOffset: int64(dstLBA) * int64(dst.BlockSize),
		Length: int64(size), SrcBlockSize: src.BlockSize, DstBlockSize: dst.BlockSize,
		SrcCSCD: cscdOffset(si), DstCSCD: cscdOffset(di), SrcSelf: src.self, DstSelf: dst.self,
	}, nil
}

// inRange reports whether blocks blocks from lba fit in a medium of capacity
// blocks, without overflowing.
func inRange(lba, blocks, capacity uint64) bool {
	return lba <= capacity && blocks <= capacity-lba
}
