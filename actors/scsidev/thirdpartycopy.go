package scsidev

import (
	"encoding/binary"

	"github.com/atgt/atgt/messages/scsi"
)

// Third-party Copy VPD page (SPC-4 7.8.17): standard INQUIRY sets 3PC because
// EXTENDED COPY is served, and a device that sets 3PC must offer this page. Its
// descriptors describe the copy manager extendedCopy implements (LID1 only, no
// ROD tokens), with the very limits it enforces (extendedcopy.go), so that an
// initiator sizing its lists from the page is never refused.
const (
	vpdThirdPartyCopy = 0x8F

	// Third-party copy descriptor types (SPC-4 table 7.8.17.1).
	tpcSupportedCommands    = 0x0001
	tpcParameterData        = 0x0004
	tpcSupportedDescriptors = 0x0008
	tpcSupportedCSCDIDs     = 0x000C
	tpcGeneralCopyOps       = 0x8001

	tpcDescHeaderLen     = 4  // TYPE and LENGTH
	tpcParameterDataLen  = 28 // descriptor length of Parameter Data
	tpcGeneralCopyOpsLen = 32 // descriptor length of General Copy Operations

	// Fields of the Parameter Data descriptor, as byte offsets from the
	// descriptor's start (SPC-4 table 648; bytes 4-7 are reserved).
	tpcPDMaxCSCDs      = 8  // MAXIMUM CSCD DESCRIPTOR COUNT (2 bytes)
	tpcPDMaxSegments   = 10 // MAXIMUM SEGMENT DESCRIPTOR COUNT (2 bytes)
	tpcPDMaxListLength = 12 // MAXIMUM DESCRIPTOR LIST LENGTH (4 bytes)
	tpcPDMaxInline     = 16 // MAXIMUM INLINE DATA LENGTH (4 bytes)

	// inquiry3PC is the 3PC bit in byte 5 of standard INQUIRY data.
	inquiry3PC = 0x08
)

// thirdPartyCopy builds the page's body: its descriptors, each padded to a
// multiple of four bytes.
func (d *Device) thirdPartyCopy() []byte {
	var b []byte
	// Supported Commands: EXTENDED COPY (LID1) and the RECEIVE COPY RESULTS
	// service actions receiveCopyResults answers.
	cmds := []byte{
		scsi.OpExtendedCopy, 1, scsi.SAExtendedCopyLID1,
		scsi.OpReceiveCopyResults, 2, scsi.SACopyStatusLID1, scsi.SAOperatingParameters,
	}
	b = appendTPCDescriptor(b, tpcSupportedCommands, append([]byte{byte(len(cmds))}, cmds...))

	// Parameter Data (SPC-4 7.8.17.5, table 648): the same limits as RECEIVE
	// COPY RESULTS' operating parameters (SPC-4 6.18.4 requires them equal).
	p := make([]byte, tpcParameterDataLen)
	binary.BigEndian.PutUint16(p[tpcPDMaxCSCDs-tpcDescHeaderLen:], maxTargetDescriptors)
	binary.BigEndian.PutUint16(p[tpcPDMaxSegments-tpcDescHeaderLen:], maxSegmentDescs)
	binary.BigEndian.PutUint32(p[tpcPDMaxListLength-tpcDescHeaderLen:], maxDescListBytes)
	// MAXIMUM INLINE DATA LENGTH (tpcPDMaxInline) stays 0: no inline data.
	b = appendTPCDescriptor(b, tpcParameterData, p)

	descs := []byte{segBlockToBlock, targetIdentDesc}
	b = appendTPCDescriptor(b, tpcSupportedDescriptors, append([]byte{byte(len(descs))}, descs...))

	// Supported CSCD Descriptor IDs: none beyond indexes into the CSCD list.
	b = appendTPCDescriptor(b, tpcSupportedCSCDIDs, []byte{0, 0})

	g := make([]byte, tpcGeneralCopyOpsLen)
	binary.BigEndian.PutUint32(g[0:4], maxHeldCopies) // TOTAL CONCURRENT COPIES
	binary.BigEndian.PutUint32(g[4:8], maxHeldCopies) // MAXIMUM IDENTIFIED CONCURRENT COPIES
	binary.BigEndian.PutUint32(g[8:12], uint32(min(uint64(maxSegmentBlocks)*uint64(d.cfg.BlockSize), 0xFFFFFFFF)))
	g[12] = log2(d.cfg.BlockSize) // DATA SEGMENT GRANULARITY: one block
	// INLINE DATA GRANULARITY (g[13]) stays 0: no inline data.
	return appendTPCDescriptor(b, tpcGeneralCopyOps, g)
}

// appendTPCDescriptor appends one third-party copy descriptor of type typ with
// body, zero padded to a multiple of four bytes (SPC-4 7.8.17.1).
func appendTPCDescriptor(b []byte, typ uint16, body []byte) []byte {
	n := (len(body) + 3) &^ 3
	b = binary.BigEndian.AppendUint16(b, typ)
	b = binary.BigEndian.AppendUint16(b, uint16(n))
	b = append(b, body...)
	return append(b, make([]byte, n-len(body))...)
}
