package scsidev

import (
	"encoding/binary"
	"fmt"

	"github.com/atgt/atgt/messages/scsi"
)

// VPD page codes this device implements, in ascending order as the
// Supported VPD Pages page must list them.
var vpdPages = []byte{0x00, 0x80, 0x83, vpdThirdPartyCopy, 0xB0, 0xB1, 0xB2}

// vpdPage builds the VPD page with the given code.
func (d *Device) vpdPage(page byte) ([]byte, bool) {
	var body []byte
	switch page {
	case 0x00:
		body = vpdPages
	case 0x80:
		body = []byte(d.cfg.SerialNumber) // CleanSerial's: printable ASCII
	case 0x83:
		body = d.deviceIdentification()
	case vpdThirdPartyCopy:
		body = d.thirdPartyCopy()
	case 0xB0:
		body = d.blockLimits()
	case 0xB1:
		body = d.blockDeviceCharacteristics()
	case 0xB2:
		body = d.logicalBlockProvisioning()
	default:
		return nil, false
	}
	b := make([]byte, 4, 4+len(body))
	b[0] = 0x00 // direct access block device
	b[1] = page
	binary.BigEndian.PutUint16(b[2:4], uint16(len(body)))
	return append(b, body...), true
}

// Designator header fields (SPC-4 7.8.6.1).
const (
	codeSetBinary = 0x1
	codeSetASCII  = 0x2
	codeSetUTF8   = 0x3
	protoISCSI    = 0x5

	assocLU     = 0x00
	assocPort   = 0x10
	assocTarget = 0x20

	typeT10Vendor  = 0x1
	typeNAA        = 0x3
	typeRelPort    = 0x4
	typeTPG        = 0x5
	typeSCSIName   = 0x8
	pivBit         = 0x80
	maxSCSINameLen = 256
)

// appendDesignator appends one identification descriptor. A designator
// with PIV set names the iSCSI protocol.
func appendDesignator(b []byte, codeSet, assocType byte, piv bool, id []byte) []byte {
	h0 := codeSet
	if piv {
		h0 |= protoISCSI << 4
		assocType |= pivBit
	}
	b = append(b, h0, assocType, 0, byte(len(id)))
	return append(b, id...)
}

// scsiName encodes a SCSI name string designator: UTF-8, NUL terminated,
// padded to a multiple of four bytes (SPC-4 7.8.6.11).
func scsiName(s string) []byte {
	n := len(s) + 1
	n = (n + 3) &^ 3
	if n > maxSCSINameLen {
		n = maxSCSINameLen
		s = s[:n-1]
	}
	b := make([]byte, n)
	copy(b, s)
	return b
}

// deviceIdentification builds the body of the Device Identification VPD
// page: the logical unit's NAA and T10 vendor ID designators, then the
// target port's relative port, port group and SCSI name string, and the
// target device's SCSI name.
func (d *Device) deviceIdentification() []byte {
	var b []byte
	var naa [8]byte
	binary.BigEndian.PutUint64(naa[:], d.cfg.NAA)
	b = appendDesignator(b, codeSetBinary, assocLU|typeNAA, false, naa[:])

	t10 := make([]byte, 8, 8+len(d.cfg.SerialNumber))
	putASCII(t10, d.cfg.VendorID)
	t10 = append(t10, d.cfg.SerialNumber...) // the same as VPD 0x80 (CleanSerial)
	b = appendDesignator(b, codeSetASCII, assocLU|typeT10Vendor, false, t10)

	var rel [4]byte
	binary.BigEndian.PutUint16(rel[2:], d.cfg.RelativePortID)
	b = appendDesignator(b, codeSetBinary, assocPort|typeRelPort, true, rel[:])

	var tpg [4]byte
	binary.BigEndian.PutUint16(tpg[2:], d.cfg.TargetPortGroup)
	b = appendDesignator(b, codeSetBinary, assocPort|typeTPG, true, tpg[:])

	if d.cfg.TargetName != "" {
		port := fmt.Sprintf("%s,t,0x%04x", d.cfg.TargetName, d.cfg.PortalGroupTag)
		b = appendDesignator(b, codeSetUTF8, assocPort|typeSCSIName, true, scsiName(port))
		b = appendDesignator(b, codeSetUTF8, assocTarget|typeSCSIName, true, scsiName(d.cfg.TargetName))
	}
	return b
}

// blockLimits builds the body of the Block Limits VPD page (SBC-3 6.5.3,
// page length 0x3C): transfer limits, the COMPARE AND WRITE and WRITE SAME
// limits, and on a thin LU the UNMAP limits and granularity.
func (d *Device) blockLimits() []byte {
	b := make([]byte, 0x3C)
	b[0] = 0x01 // WSNZ: WRITE SAME needs a block count
	b[1] = maxCompareAndWriteBlocks
	binary.BigEndian.PutUint16(b[2:4], 1) // optimal transfer length granularity
	binary.BigEndian.PutUint32(b[4:8], d.cfg.MaxTransferBlocks)
	opt := uint32(1<<20) / d.cfg.BlockSize
	if opt > d.cfg.MaxTransferBlocks {
		opt = d.cfg.MaxTransferBlocks
	}
	binary.BigEndian.PutUint32(b[8:12], opt)
	// b[12:16] MAXIMUM PREFETCH LENGTH: 0, PRE-FETCH loads nothing.
	if d.cfg.Thin {
		binary.BigEndian.PutUint32(b[16:20], d.maxUnmapBlocks())
		binary.BigEndian.PutUint32(b[20:24], maxUnmapDescriptors)
		binary.BigEndian.PutUint32(b[24:28], d.unmapGranularity())
		b[28] = 0x80 // UGAVALID, alignment 0
	}
	binary.BigEndian.PutUint64(b[32:40], uint64(d.maxWriteSameBlocks()))
	return b
}

// blockDeviceCharacteristics builds the body of the Block Device
// Characteristics VPD page (SBC-3 6.5.2): a non-rotating medium. When
// SANITIZE BLOCK ERASE is supported, WABEREQ 01b says that reads after it
// succeed (deallocated blocks read as zeros: BLOCK ERASE is offered only
// with LBPRZ); WACEREQ stays 0: no CRYPTO ERASE.
func (d *Device) blockDeviceCharacteristics() []byte {
	b := make([]byte, 0x3C)
	binary.BigEndian.PutUint16(b[0:2], 0x0001) // non-rotating medium
	if d.sanitizeAllowed(scsi.SASanitizeBlockErase) {
		b[3] |= 0x40
	}
	return b
}

// logicalBlockProvisioning builds the body of the Logical Block
// Provisioning VPD page (SBC-3 6.5.4), matching LBPME and LBPRZ in READ
// CAPACITY(16): a thin LU supports UNMAP (LBPU) and WRITE SAME 10/16 with
// UNMAP (LBPWS10, LBPWS), no anchors; a fully provisioned one none of them.
func (d *Device) logicalBlockProvisioning() []byte {
	b := make([]byte, 4)
	if !d.cfg.Thin {
		return b
	}
	b[1] = 0x80 | 0x40 | 0x20 // LBPU, LBPWS, LBPWS10
	if d.cfg.UnmapReadsZero {
		b[1] |= 0x04 // LBPRZ
	}
	b[2] = 0x02 // PROVISIONING TYPE: thin
	return b
}
