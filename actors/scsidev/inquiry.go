package scsidev

import (
	"encoding/binary"

	"github.com/atgt/atgt/messages/scsi"
)

// Version descriptors (SPC-4 table 147) claimed in standard INQUIRY data;
// initiators such as libiscsi look for SBC-3 to decide READ CAPACITY(16)
// and 16-byte CDB support.
const (
	versionSAM5  = 0x00A0
	versionISCSI = 0x0960
	versionSPC4  = 0x0460
	versionSBC3  = 0x04C0
)

// standardInquiryLen is the full standard INQUIRY data length, including
// the eight version descriptors.
const standardInquiryLen = 96

// inquiryMultiP is the MULTIP bit in byte 6 of standard INQUIRY data (SPC-4
// 6.6.2): the logical unit is reached through more than one target port.
const inquiryMultiP = 0x10

// inquiry implements INQUIRY (SPC-4 6.6).
func (d *Device) inquiry(cdb []byte) (Result, error) {
	evpd := cdb[1]&0x01 != 0
	if cdb[1]&0x02 != 0 { // CMDDT, obsolete
		return Result{}, scsi.InvalidFieldInCDB(1, 1)
	}
	page := cdb[2]
	alloc := uint32(binary.BigEndian.Uint16(cdb[3:5]))
	if !evpd {
		if page != 0 {
			return Result{}, scsi.InvalidFieldInCDB(2, -1)
		}
		return good(truncate(d.standardInquiry(), alloc)), nil
	}
	data, ok := d.vpdPage(page)
	if !ok {
		return Result{}, scsi.InvalidFieldInCDB(2, -1)
	}
	return good(truncate(data, alloc)), nil
}

// standardInquiry builds the standard INQUIRY data: a direct access block
// device, SPC-4, HiSup, response data format 2, command queuing, a copy
// manager (3PC), and MULTIP when the logical unit has several target ports.
func (d *Device) standardInquiry() []byte {
	b := make([]byte, standardInquiryLen)
	b[0] = 0x00 // peripheral qualifier 0, direct access block device
	b[1] = 0x00 // not removable
	b[2] = 0x06 // SPC-4
	b[3] = 0x10 | 0x02
	b[4] = standardInquiryLen - 5
	if d.alua() {
		b[5] = inquiryTPGSImplicit
	}
	b[5] |= inquiry3PC // EXTENDED COPY is served (thirdpartycopy.go)
	if len(d.cfg.PortGroups) > 1 {
		b[6] |= inquiryMultiP // one target port per group (alua.go)
	}
	b[7] = 0x02 // CmdQue
	putASCII(b[8:16], d.cfg.VendorID)
	putASCII(b[16:32], d.cfg.ProductID)
	putASCII(b[32:36], d.cfg.Revision)
	for i, v := range []uint16{versionSAM5, versionISCSI, versionSPC4, versionSBC3} {
		binary.BigEndian.PutUint16(b[58+2*i:], v)
	}
	return b
}

// putASCII writes s left aligned and space padded into dst, replacing
// characters outside printable ASCII, which SPC-4 4.4.1 forbids.
func putASCII(dst []byte, s string) {
	for i := range dst {
		c := byte(' ')
		if i < len(s) {
			c = s[i]
			if c < 0x20 || c > 0x7E {
				c = ' '
			}
		}
		dst[i] = c
	}
}
