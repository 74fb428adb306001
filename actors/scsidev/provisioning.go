package scsidev

import (
	"encoding/binary"

	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/scsi"
)

// Logical block provisioning limits reported in the Block Limits VPD page
// and enforced by UNMAP and WRITE SAME.
const (
	// maxUnmapDescriptors is the MAXIMUM UNMAP BLOCK DESCRIPTOR COUNT.
	maxUnmapDescriptors = 256
	// maxUnmapBytes bounds the blocks one UNMAP deallocates in total
	// (MAXIMUM UNMAP LBA COUNT), so one command's hole punching stays short.
	maxUnmapBytes = 256 << 20
	// maxWriteSameBytes bounds one WRITE SAME (MAXIMUM WRITE SAME LENGTH),
	// so a replicated write never ties a worker up for long.
	maxWriteSameBytes = 16 << 20
	// unmapGranularityBytes is the OPTIMAL UNMAP GRANULARITY: the page and
	// filesystem block size, the unit a hole can be punched in.
	unmapGranularityBytes = 4096
	// maxLBAStatusDescriptors bounds the runs one GET LBA STATUS reports.
	maxLBAStatusDescriptors = 64
)

// maxUnmapBlocks is the MAXIMUM UNMAP LBA COUNT in blocks.
func (d *Device) maxUnmapBlocks() uint32 { return maxUnmapBytes / d.cfg.BlockSize }

// maxWriteSameBlocks is the MAXIMUM WRITE SAME LENGTH in blocks.
func (d *Device) maxWriteSameBlocks() uint32 { return maxWriteSameBytes / d.cfg.BlockSize }

// unmapGranularity is the OPTIMAL UNMAP GRANULARITY in blocks (at least 1).
func (d *Device) unmapGranularity() uint32 {
	return max(1, unmapGranularityBytes/d.cfg.BlockSize)
}

// unmap implements UNMAP (SBC-3 5.28): it checks the whole parameter list
// (every descriptor's range, the descriptor count and the total block count)
// before planning any deallocation, so a bad list changes nothing. A fully
// provisioned LU does not implement the command.
func (d *Device) unmap(cdb []byte, r *Request) (Result, error) {
	if !d.cfg.Thin {
		return Result{}, scsi.InvalidOpcode()
	}
	if cdb[1]&0x01 != 0 { // ANCHOR: anchored LBAs are not supported (ANC_SUP=0)
		return Result{}, scsi.InvalidFieldInCDB(1, 0)
	}
	if se, ok := d.writeProtected(); ok {
		return Result{}, se
	}
	plen := int(binary.BigEndian.Uint16(cdb[7:9]))
	if plen == 0 {
		return good(nil), nil
	}
	p := r.DataOut
	if len(p) > plen {
		p = p[:plen]
	}
	if len(p) < 8 {
		return Result{}, scsi.ParameterListLengthError()
	}
	descLen := int(binary.BigEndian.Uint16(p[2:4]))
	if dataLen := int(binary.BigEndian.Uint16(p[0:2])); dataLen+2 < 8+descLen || len(p) < 8+descLen {
		return Result{}, scsi.ParameterListLengthError()
	}
	n := descLen / 16 // a trailing partial descriptor is ignored
	if n > maxUnmapDescriptors {
		return Result{}, scsi.InvalidFieldInParamList(2, -1)
	}
	bs := int64(d.cfg.BlockSize)
	var total uint64
	extents := make([]Extent, 0, n)
	for i := 0; i < n; i++ {
		desc := p[8+16*i : 8+16*i+16]
		lba := binary.BigEndian.Uint64(desc[0:8])
		blocks := uint64(binary.BigEndian.Uint32(desc[8:12]))
		if lba > d.cfg.Blocks || blocks > d.cfg.Blocks-lba {
			return Result{}, scsi.LBAOutOfRange()
		}
		total += blocks
		if total > uint64(d.maxUnmapBlocks()) {
			return Result{}, scsi.InvalidFieldInParamList(8+16*i+8, -1)
		}
		if blocks > 0 {
			extents = append(extents, Extent{Offset: int64(lba) * bs, Length: int64(blocks) * bs})
		}
	}
	if len(extents) == 0 {
		return good(nil), nil
	}
	// With WCE=0 the deallocation is on the medium before GOOD, as a write's
	// data would be: an initiator sends no SYNCHRONIZE CACHE to such a disk.
	return Result{IO: IO{Kind: pb.IoKind_IO_KIND_UNMAP, Extents: extents, Stable: !d.wce}}, nil
}

// writeSame implements WRITE SAME(10) and WRITE SAME(16) (SBC-3 5.41-5.42):
// the one block of data-out (zeros with NDOB) is written to every block of
// the range. With UNMAP set on a thin LU the range is deallocated instead,
// which reads back as zeros (LBPRZ), if the block is all zeros; any other
// block is written, as SBC-3 requires of data a deallocated block would not
// return. NUMBER OF LOGICAL BLOCKS 0 is refused
// (WSNZ=1): writing up to the end of the medium would tie a worker up.
func (d *Device) writeSame(cdb []byte, r *Request) (Result, error) {
	var lba, blocks uint64
	lenField := 7
	ndob := false
	if cdb[0] == scsi.OpWriteSame10 {
		lba = uint64(binary.BigEndian.Uint32(cdb[2:6]))
		blocks = uint64(binary.BigEndian.Uint16(cdb[7:9]))
	} else {
		lba = binary.BigEndian.Uint64(cdb[2:10])
		blocks = uint64(binary.BigEndian.Uint32(cdb[10:14]))
		lenField = 10
		ndob = cdb[1]&0x01 != 0
	}
	switch {
	case cdb[1]&0xE0 != 0: // WRPROTECT: no protection information
		return Result{}, scsi.InvalidFieldInCDB(1, 7)
	case cdb[1]&0x10 != 0: // ANCHOR: not supported (ANC_SUP=0)
		return Result{}, scsi.InvalidFieldInCDB(1, 4)
	case cdb[1]&0x06 != 0: // obsolete PBDATA/LBDATA
		return Result{}, scsi.InvalidFieldInCDB(1, 2)
	}
	unmap := cdb[1]&0x08 != 0
	if unmap && !d.cfg.Thin {
		// LBPWS=0: a fully provisioned LU cannot unmap (SBC-3 5.42).
		return Result{}, scsi.InvalidFieldInCDB(1, 3)
	}
	if se, ok := d.writeProtected(); ok {
		return Result{}, se
	}
	if !d.inRange(lba, blocks) {
		return Result{}, scsi.LBAOutOfRange()
	}
	if blocks == 0 || blocks > uint64(d.maxWriteSameBlocks()) {
		return Result{}, scsi.InvalidFieldInCDB(lenField, -1)
	}
	bs := int64(d.cfg.BlockSize)
	block := r.DataOut
	if ndob {
		if len(block) != 0 {
			return Result{}, scsi.InvalidFieldInCDB(1, 0)
		}
		block = make([]byte, bs)
	} else if int64(len(block)) != bs {
		// The data-out buffer is exactly one logical block.
		return Result{}, scsi.InvalidFieldInCDB(lenField, -1)
	}
	off, length := int64(lba)*bs, int64(blocks)*bs
	// Deallocating is only a valid way to write the block when a
	// deallocated block reads back as that block: zeros with LBPRZ. It is a
	// write command all the same: stable before GOOD when WCE=0.
	if unmap && d.cfg.Thin && d.cfg.UnmapReadsZero && allZero(block) {
		return Result{IO: IO{Kind: pb.IoKind_IO_KIND_UNMAP, Extents: []Extent{{Offset: off, Length: length}}, Stable: !d.wce}}, nil
	}
	return Result{IO: IO{Kind: pb.IoKind_IO_KIND_WRITE_SAME, Offset: off, Length: length, Stable: !d.wce, Data: block}}, nil
}

// getLBAStatus implements GET LBA STATUS (SBC-3 5.6). A thin LU asks its
// backend through an IO worker; a fully provisioned one has every block
// mapped and answers at once.
func (d *Device) getLBAStatus(cdb []byte) (Result, error) {
	lba := binary.BigEndian.Uint64(cdb[2:10])
	alloc := binary.BigEndian.Uint32(cdb[10:14])
	if lba >= d.cfg.Blocks {
		return Result{}, scsi.LBAOutOfRange()
	}
	if alloc == 0 {
		return good(nil), nil
	}
	bs := int64(d.cfg.BlockSize)
	off, length := int64(lba)*bs, int64(d.cfg.Blocks-lba)*bs
	if !d.cfg.Thin {
		return good(LBAStatusData(cdb, uint32(bs), []Run{{Mapped: true, Length: length}})), nil
	}
	n := uint32(1)
	if alloc >= 24 {
		n = min((alloc-8)/16, maxLBAStatusDescriptors)
	}
	return Result{IO: IO{Kind: pb.IoKind_IO_KIND_LBA_STATUS, Offset: off, Length: length, MaxDescriptors: n}}, nil
}

// Run is a stretch of bytes that is all mapped or all unmapped, as a
// backend's Mapper reports it.
type Run struct {
	Mapped bool
	Length int64
}

// LBAStatusData builds the GET LBA STATUS parameter data (SBC-3 5.6.2) for
// the CDB cdb from the runs that follow its starting LBA, cut to the
// allocation length. Only a block wholly inside an unmapped run is reported
// deallocated: a block with any mapped byte is mapped (SBC-4 4.7.1), since
// with LBPRZ=1 "deallocated" promises zeros and initiators such as QEMU skip
// such blocks when they copy. A hole smaller than a block (a sparse image on a
// file system with smaller blocks) therefore counts as data. Runs too long for
// one descriptor are split.
func LBAStatusData(cdb []byte, blockSize uint32, runs []Run) []byte {
	if len(cdb) < 14 || blockSize == 0 {
		return nil
	}
	lba := binary.BigEndian.Uint64(cdb[2:10])
	alloc := binary.BigEndian.Uint32(cdb[10:14])
	bs := int64(blockSize)
	b := make([]byte, 8, 8+16*len(runs))
	next := lba          // the first block not yet described
	var lastDealloc bool // the state of the last descriptor
	add := func(end uint64, dealloc bool) {
		for next < end {
			if len(b) > 8 && lastDealloc == dealloc {
				// Extend the last descriptor while it has room.
				d := b[len(b)-16:]
				have := binary.BigEndian.Uint32(d[8:12])
				if n := min(end-next, uint64(0xFFFFFFFF-have)); n > 0 {
					binary.BigEndian.PutUint32(d[8:12], have+uint32(n))
					next += n
					continue
				}
			}
			n := min(end-next, 0xFFFFFFFF)
			var d [16]byte
			binary.BigEndian.PutUint64(d[0:8], next)
			binary.BigEndian.PutUint32(d[8:12], uint32(n))
			if dealloc {
				d[12] = 1 // deallocated
			}
			b = append(b, d[:]...)
			lastDealloc = dealloc
			next += n
		}
	}
	// hole closes the unmapped bytes [start, end): the blocks wholly inside
	// are deallocated; partial blocks at either edge stay mapped.
	hole := func(start, end int64) {
		first, last := lba+uint64((start+bs-1)/bs), lba+uint64(end/bs)
		if first < last {
			add(first, false)
			add(last, true)
		}
	}
	var pos int64          // bytes from the starting LBA
	holeStart := int64(-1) // where the unmapped bytes before pos began
	for _, run := range runs {
		if run.Length <= 0 {
			continue
		}
		switch {
		case !run.Mapped && holeStart < 0:
			holeStart = pos
		case run.Mapped && holeStart >= 0:
			hole(holeStart, pos)
			holeStart = -1
		}
		pos += run.Length
	}
	if holeStart >= 0 {
		hole(holeStart, pos)
	}
	add(lba+uint64((pos+bs-1)/bs), false)
	binary.BigEndian.PutUint32(b[0:4], uint32(len(b)-4))
	return truncate(b, alloc)
}

// allZero reports whether b holds only zero bytes.
func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
