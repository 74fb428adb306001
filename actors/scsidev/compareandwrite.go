package scsidev

import (
	"encoding/binary"

	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/scsi"
)

// maxCompareAndWriteBlocks is the MAXIMUM COMPARE AND WRITE LENGTH of the
// Block Limits VPD page: one CDB byte holds it.
const maxCompareAndWriteBlocks = 255

// compareAndWrite implements COMPARE AND WRITE (SBC-3 5.2). The data-out
// buffer holds the verify data then the write data, one block count each.
// The plan is exclusive: the LUN runs it while no other write to those blocks
// is in flight, so the compare and the write are atomic against them.
func (d *Device) compareAndWrite(cdb []byte, r *Request) (Result, error) {
	if cdb[1]&0xE0 != 0 { // WRPROTECT: no protection information
		return Result{}, scsi.InvalidFieldInCDB(1, 7)
	}
	if se, ok := d.writeProtected(); ok {
		return Result{}, se
	}
	lba := binary.BigEndian.Uint64(cdb[2:10])
	blocks := uint64(cdb[13])
	if blocks > maxCompareAndWriteBlocks {
		return Result{}, scsi.InvalidFieldInCDB(13, -1)
	}
	if !d.inRange(lba, blocks) {
		return Result{}, scsi.LBAOutOfRange()
	}
	bs := int64(d.cfg.BlockSize)
	length := int64(blocks) * bs
	// The data-out must be exactly the verify and write data: anything else
	// (e.g. 256 blocks' worth, which wrapped to 0 in the one-byte field)
	// means the initiator and the CDB disagree.
	if int64(len(r.DataOut)) != 2*length {
		return Result{}, scsi.InvalidFieldInCDB(13, -1)
	}
	if blocks == 0 {
		return good(nil), nil
	}
	stable := cdb[1]&0x08 != 0 || !d.wce
	return Result{IO: IO{Kind: pb.IoKind_IO_KIND_COMPARE_AND_WRITE, Offset: int64(lba) * bs, Length: length, Stable: stable, Data: r.DataOut}}, nil
}

// orWrite implements ORWRITE(16) (SBC-3 5.7): the data-out is ORed into the
// blocks; the read-modify-write is exclusive like COMPARE AND WRITE.
func (d *Device) orWrite(cdb []byte, r *Request) (Result, error) {
	if cdb[1]&0xE0 != 0 { // ORPROTECT: no protection information
		return Result{}, scsi.InvalidFieldInCDB(1, 7)
	}
	if se, ok := d.writeProtected(); ok {
		return Result{}, se
	}
	lba := binary.BigEndian.Uint64(cdb[2:10])
	blocks := binary.BigEndian.Uint32(cdb[10:14])
	if blocks > d.cfg.MaxTransferBlocks {
		return Result{}, scsi.InvalidFieldInCDB(10, -1)
	}
	if !d.inRange(lba, uint64(blocks)) {
		return Result{}, scsi.LBAOutOfRange()
	}
	bs := int64(d.cfg.BlockSize)
	length := int64(blocks) * bs
	data := r.DataOut
	if int64(len(data)) > length {
		data = data[:length]
	}
	if len(data) == 0 {
		return good(nil), nil
	}
	stable := cdb[1]&0x08 != 0 || !d.wce
	return Result{IO: IO{Kind: pb.IoKind_IO_KIND_OR_WRITE, Offset: int64(lba) * bs, Length: int64(len(data)), Stable: stable, Data: data}}, nil
}

// CompareAndWriteData checks the medium contents current against the verify
// half of io.Data and returns the write half to write. On a mismatch it
// returns MISCOMPARE, whose INFORMATION is the offset of the first differing
// byte (SBC-3 5.2), and nothing must be written.
func CompareAndWriteData(io IO, current []byte) ([]byte, error) {
	n := io.Length
	if int64(len(io.Data)) < 2*n || int64(len(current)) < n {
		return nil, scsi.UnrecoveredReadError()
	}
	for i := int64(0); i < n; i++ {
		if current[i] != io.Data[i] {
			return nil, scsi.Miscompare(uint64(i))
		}
	}
	return io.Data[n : 2*n], nil
}

// ORData ORs the mask io.Data into current, in place, and returns it.
func ORData(io IO, current []byte) []byte {
	for i := range min(len(current), len(io.Data)) {
		current[i] |= io.Data[i]
	}
	return current
}
