package scsidev

import (
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/scsi"
)

// inRange reports whether blocks blocks starting at lba lie on the medium.
// The LBA itself must exist even for a zero-length transfer (SBC-3 4.5).
func (d *Device) inRange(lba, blocks uint64) bool {
	return lba < d.cfg.Blocks && blocks <= d.cfg.Blocks-lba
}

// transferLengthField is the CDB byte offset of the TRANSFER LENGTH field,
// for the field pointer of a too long transfer.
func transferLengthField(op byte) int {
	switch scsi.CDBLength(op) {
	case 6:
		return 4
	case 10:
		return 7
	case 12:
		return 6
	}
	return 10
}

// rangeFor checks the range of a decoded CDB against the transfer limit
// (INVALID FIELD IN CDB pointing at TRANSFER LENGTH) and the capacity (LBA
// OUT OF RANGE), and returns its byte offset and length.
func (d *Device) rangeFor(cdb []byte, rw scsi.RW) (off, length int64, err error) {
	if rw.Blocks > d.cfg.MaxTransferBlocks {
		return 0, 0, scsi.InvalidFieldInCDB(transferLengthField(cdb[0]), -1)
	}
	if !d.inRange(rw.LBA, uint64(rw.Blocks)) {
		return 0, 0, scsi.LBAOutOfRange()
	}
	bs := int64(d.cfg.BlockSize)
	return int64(rw.LBA) * bs, int64(rw.Blocks) * bs, nil
}

// read implements READ 6/10/12/16 (SBC-3 5.8-5.11). DPO and FUA are
// accepted; FUA needs nothing extra because reads come from the page
// cache, which is coherent with every completed write.
func (d *Device) read(cdb []byte) (Result, error) {
	rw, err := scsi.ParseRW(cdb)
	if err != nil {
		return Result{}, err
	}
	off, length, err := d.rangeFor(cdb, rw)
	if err != nil {
		return Result{}, err
	}
	if length == 0 {
		return good(nil), nil
	}
	return Result{IO: IO{Kind: pb.IoKind_IO_KIND_READ, Offset: off, Length: length}}, nil
}

// write implements WRITE 6/10/12/16 and WRITE AND VERIFY 10/12/16
// (SBC-3 5.32-5.38). The write must be stable before GOOD when FUA is set,
// when the write cache is disabled, and always for WRITE AND VERIFY (whose
// verification is only meaningful against the medium). If the initiator
// sent less data than the CDB asks for, what arrived is written, as long as it
// is whole blocks; the iSCSI layer reports the residual.
func (d *Device) write(cdb []byte, r *Request) (Result, error) {
	rw, err := scsi.ParseRW(cdb)
	if err != nil {
		return Result{}, err
	}
	if se, ok := d.writeProtected(); ok {
		return Result{}, se
	}
	off, length, err := d.rangeFor(cdb, rw)
	if err != nil {
		return Result{}, err
	}
	data, n := r.DataOut, int64(len(r.DataOut))
	if data == nil {
		n = r.DataOutLength // the worker has the data in parts
	}
	if n > length {
		n = length
		if data != nil {
			data = data[:length]
		}
	}
	if n <= 0 {
		return good(nil), nil
	}
	if n&(int64(d.cfg.BlockSize)-1) != 0 { // block sizes are powers of two (512, 4096)
		// SBC writes whole logical blocks: data-out that ends inside one would
		// leave it half new, half old. Refused as LIO does; libiscsi's residual
		// tests accept this answer, and the residual is still reported.
		return Result{}, scsi.InvalidFieldInCommandIU()
	}
	stable := rw.FUA || !d.wce
	switch cdb[0] {
	case scsi.OpWriteAndVerify10, scsi.OpWriteAndVerify12, scsi.OpWriteAndVerify16:
		stable = true
	}
	return Result{IO: IO{Kind: pb.IoKind_IO_KIND_WRITE, Offset: off, Length: n, Stable: stable, Data: data}}, nil
}

// verify implements VERIFY 10/12/16 (SBC-3 5.24-5.26). With BYTCHK=0 the
// medium check is the range check: the backend has no media errors that a
// read would find and a write would not. With BYTCHK=1 the data-out buffer
// is compared with the medium.
func (d *Device) verify(cdb []byte, r *Request) (Result, error) {
	rw, err := scsi.ParseRW(cdb)
	if err != nil {
		return Result{}, err
	}
	off, length, err := d.rangeFor(cdb, rw)
	if err != nil {
		return Result{}, err
	}
	if length == 0 || rw.BytChk == 0 {
		return good(nil), nil
	}
	data := r.DataOut
	if int64(len(data)) > length {
		data = data[:length]
	}
	if len(data) == 0 {
		return good(nil), nil
	}
	return Result{IO: IO{Kind: pb.IoKind_IO_KIND_VERIFY, Offset: off, Length: int64(len(data)), Data: data}}, nil
}

// synchronizeCache implements SYNCHRONIZE CACHE 10/16 (SBC-3 5.22-5.23):
// it makes the range durable; 0 blocks means up to the end of the medium.
// IMMED is honoured by doing the sync before answering, which is allowed.
func (d *Device) synchronizeCache(cdb []byte) (Result, error) {
	lba, blocks := lbaRange(cdb, cdb[0] == scsi.OpSynchronizeCache10)
	if !d.inRange(lba, blocks) {
		return Result{}, scsi.LBAOutOfRange()
	}
	if blocks == 0 {
		blocks = d.cfg.Blocks - lba
	}
	bs := int64(d.cfg.BlockSize)
	return Result{IO: IO{Kind: pb.IoKind_IO_KIND_SYNC, Offset: int64(lba) * bs, Length: int64(blocks) * bs, Stable: true}}, nil
}
