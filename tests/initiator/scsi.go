package initiator

import (
	"encoding/binary"
	"fmt"

	"github.com/atgt/atgt/messages/scsi"
)

// check turns a non-GOOD status into *SCSIError.
func check(r *Result, err error) (*Result, error) {
	if err != nil {
		return nil, err
	}
	if r.Status != scsi.StatusGood {
		return r, &SCSIError{Status: r.Status, Sense: r.Sense}
	}
	return r, nil
}

// Read reads blocks with READ(16). Short data is an error: the LUN must return
// exactly what was asked.
func (s *Session) Read(lun, lba uint64, blocks uint32, blockSize uint32) ([]byte, error) {
	cdb := make([]byte, 16)
	cdb[0] = scsi.OpRead16
	binary.BigEndian.PutUint64(cdb[2:], lba)
	binary.BigEndian.PutUint32(cdb[10:], blocks)
	n := uint64(blocks) * uint64(blockSize)
	if n > 1<<31 {
		return nil, fmt.Errorf("initiator: read of %d bytes is too large", n)
	}
	r, err := check(s.Command(lun, cdb, nil, uint32(n)))
	if err != nil {
		return nil, err
	}
	if uint64(len(r.Data)) != n {
		return r.Data, fmt.Errorf("initiator: READ returned %d of %d bytes", len(r.Data), n)
	}
	return r.Data, nil
}

// Write writes data (a whole number of blocks) with WRITE(16), FUA if asked.
func (s *Session) Write(lun, lba uint64, data []byte, blockSize uint32, fua bool) error {
	if blockSize == 0 || len(data)%int(blockSize) != 0 {
		return fmt.Errorf("initiator: %d bytes is not a whole number of %d-byte blocks", len(data), blockSize)
	}
	cdb := make([]byte, 16)
	cdb[0] = scsi.OpWrite16
	if fua {
		cdb[1] = 0x08
	}
	binary.BigEndian.PutUint64(cdb[2:], lba)
	binary.BigEndian.PutUint32(cdb[10:], uint32(len(data)/int(blockSize)))
	_, err := check(s.Command(lun, cdb, data, 0))
	return err
}

// SyncCache runs SYNCHRONIZE CACHE(10) over the whole LUN.
func (s *Session) SyncCache(lun uint64) error {
	cdb := make([]byte, 10)
	cdb[0] = scsi.OpSynchronizeCache10
	_, err := check(s.Command(lun, cdb, nil, 0))
	return err
}

// TestUnitReady runs TEST UNIT READY.
func (s *Session) TestUnitReady(lun uint64) error {
	_, err := check(s.Command(lun, make([]byte, 6), nil, 0))
	return err
}

// Inquiry returns standard INQUIRY data (up to 255 bytes).
func (s *Session) Inquiry(lun uint64) ([]byte, error) {
	cdb := []byte{scsi.OpInquiry, 0, 0, 0, 255, 0}
	r, err := check(s.Command(lun, cdb, nil, 255))
	if err != nil {
		return nil, err
	}
	return r.Data, nil
}

// ReadCapacity16 returns the number of blocks and the block size.
func (s *Session) ReadCapacity16(lun uint64) (blocks uint64, blockSize uint32, err error) {
	cdb := make([]byte, 16)
	cdb[0] = scsi.OpServiceActionIn16
	cdb[1] = 0x10 // READ CAPACITY (16)
	binary.BigEndian.PutUint32(cdb[10:], 32)
	r, err := check(s.Command(lun, cdb, nil, 32))
	if err != nil {
		return 0, 0, err
	}
	if len(r.Data) < 12 {
		return 0, 0, fmt.Errorf("initiator: READ CAPACITY(16) returned %d bytes", len(r.Data))
	}
	return binary.BigEndian.Uint64(r.Data) + 1, binary.BigEndian.Uint32(r.Data[8:]), nil
}

// cachingPage is the mode page code of the Caching page (SBC-3 6.4.5).
const cachingPage = 0x08

// controlPage is the mode page code of the Control page (SPC-4 7.5.8).
const controlPage = 0x0A

// modeSenseCaching returns the current Caching mode page (page bytes only).
func (s *Session) modeSenseCaching(lun uint64) ([]byte, error) {
	return s.modeSensePage(lun, cachingPage)
}

// ModeSenseControl returns the current Control mode page (page bytes only: byte 2
// holds TST in bits 7-5, byte 5 TAS in bit 6).
func (s *Session) ModeSenseControl(lun uint64) ([]byte, error) {
	return s.modeSensePage(lun, controlPage)
}

// modeSensePage returns a current mode page (page bytes only) by MODE SENSE(10).
func (s *Session) modeSensePage(lun uint64, page byte) ([]byte, error) {
	cdb := make([]byte, 10)
	cdb[0] = scsi.OpModeSense10
	cdb[1] = 0x08 // DBD: no block descriptors
	cdb[2] = page
	binary.BigEndian.PutUint16(cdb[7:], 255)
	r, err := check(s.Command(lun, cdb, nil, 255))
	if err != nil {
		return nil, err
	}
	d := r.Data
	if len(d) < 8 {
		return nil, fmt.Errorf("initiator: MODE SENSE returned %d bytes", len(d))
	}
	off := 8 + int(binary.BigEndian.Uint16(d[6:]))
	if off+2 > len(d) || d[off]&0x3f != page || off+2+int(d[off+1]) > len(d) || d[off+1] < 1 {
		return nil, fmt.Errorf("initiator: MODE SENSE has no page %#02x: % x", page, d)
	}
	return d[off : off+2+int(d[off+1])], nil
}

// ModeSenseWCE reports the WCE bit of the current Caching mode page.
func (s *Session) ModeSenseWCE(lun uint64) (bool, error) {
	pg, err := s.modeSenseCaching(lun)
	if err != nil {
		return false, err
	}
	return pg[2]&0x04 != 0, nil
}

// ModeSelectWCE sets the WCE bit with MODE SELECT(10), sending back the current
// Caching page with only WCE changed.
func (s *Session) ModeSelectWCE(lun uint64, wce bool) error {
	pg, err := s.modeSenseCaching(lun)
	if err != nil {
		return err
	}
	param := make([]byte, 8, 8+len(pg))
	param = append(param, pg...)
	page := param[8:]
	page[0] &= 0x7f // PS is reserved in MODE SELECT
	if wce {
		page[2] |= 0x04
	} else {
		page[2] &^= 0x04
	}
	cdb := make([]byte, 10)
	cdb[0] = scsi.OpModeSelect10
	cdb[1] = 0x10 // PF: page format
	binary.BigEndian.PutUint16(cdb[7:], uint16(len(param)))
	_, err = check(s.Command(lun, cdb, param, 0))
	return err
}

// ReportLUNs runs REPORT LUNS (SELECT REPORT 00h) addressed to lun and returns the
// LUN numbers the target lists.
func (s *Session) ReportLUNs(lun uint64) ([]uint64, error) {
	const alloc = 8 + 8*256
	cdb := make([]byte, 12)
	cdb[0] = scsi.OpReportLUNs
	binary.BigEndian.PutUint32(cdb[6:], alloc)
	r, err := check(s.Command(lun, cdb, nil, alloc))
	if err != nil {
		return nil, err
	}
	if len(r.Data) < 8 {
		return nil, fmt.Errorf("initiator: REPORT LUNS returned %d bytes", len(r.Data))
	}
	n := int(binary.BigEndian.Uint32(r.Data))
	if n%8 != 0 || 8+n > len(r.Data) {
		return nil, fmt.Errorf("initiator: REPORT LUNS list length %d in %d bytes", n, len(r.Data))
	}
	out := []uint64{}
	for off := 8; off < 8+n; off += 8 {
		l, ok := scsi.DecodeLUN(binary.BigEndian.Uint64(r.Data[off:]))
		if !ok {
			return nil, fmt.Errorf("initiator: REPORT LUNS entry % x", r.Data[off:off+8])
		}
		out = append(out, l)
	}
	return out, nil
}
