package scsidev

import (
	"crypto/sha256"
	"encoding/binary"
)

// Config describes one logical unit: its identity as INQUIRY reports it,
// its geometry, and the target port it is reached through.
type Config struct {
	// VendorID (8), ProductID (16) and Revision (4) are the standard
	// INQUIRY strings; longer values are cut, shorter ones space padded.
	VendorID, ProductID, Revision string
	// SerialNumber is the Unit Serial Number VPD page; empty means a hex
	// form of NAA.
	SerialNumber string
	// NAA is the 8-byte NAA designator of the logical unit in the Device
	// Identification VPD page (see NAAFromName).
	NAA uint64
	// BlockSize is the logical block length: 512 (default) or 4096.
	BlockSize uint32
	// Blocks is the capacity in logical blocks.
	Blocks uint64
	// ReadOnly makes every write fail with DATA PROTECT.
	ReadOnly bool
	// WriteCache is the default WCE bit of the Caching mode page, and the
	// initial one unless Saved holds a saved value.
	WriteCache bool
	// SaveModes makes the Caching page savable: MODE SELECT with SP=1
	// saves WCE (an IO_KIND_SAVE_MODE_PAGES plan, made durable before
	// answering) and MODE SENSE reports saved values. When false SP=1 and
	// saved values are refused.
	SaveModes bool
	// Saved is the state saved earlier, loaded from the metadata file; nil
	// when nothing was saved.
	Saved *SavedModes
	// TargetName is the iSCSI name of the target, used for the SCSI name
	// string designators.
	TargetName string
	// PortalGroupTag is the iSCSI target portal group tag that forms the
	// target port name "TargetName,t,0x<tag>" (default 1).
	PortalGroupTag uint16
	// TargetPortGroup is the ALUA target port group reported in VPD 0x83: the
	// group of the node this LU is served by.
	TargetPortGroup uint16
	// RelativePortID is the relative target port identifier (default 1).
	RelativePortID uint16
	// PortGroups lists the ids of every target port group of the target, every
	// node's, ascending, each with one target port whose relative target port
	// identifier is the group id. Nil: the LU reports no ALUA (INQUIRY TPGS 0,
	// no REPORT TARGET PORT GROUPS).
	PortGroups []uint16
	// ImplicitTransitionSeconds is the IMPLICIT TRANSITION TIME of REPORT TARGET
	// PORT GROUPS' extended header: how long an implicit transition may take.
	ImplicitTransitionSeconds byte
	// LUN is this logical unit's number.
	LUN uint64
	// MaxTransferBlocks bounds one command's transfer; it is reported in
	// the Block Limits VPD page and enforced. Default: 4 MiB worth.
	MaxTransferBlocks uint32
	// Thin makes the LU thin provisioned (SBC-3 4.7.3): LBPME in READ
	// CAPACITY(16), UNMAP and WRITE SAME with UNMAP deallocate blocks, GET
	// LBA STATUS reports them. False is a fully provisioned LU.
	Thin bool
	// UnmapReadsZero is LBPRZ: a deallocated block reads as zeros. True for
	// files (punched holes) and memory, not for block devices, whose
	// discard gives no such promise.
	UnmapReadsZero bool
	// ListLUNs returns all LUNs of the target for REPORT LUNS; nil means
	// just this one.
	ListLUNs func() []uint64
	// CopyTargets looks up another logical unit of the same target by its
	// NAA designator, for EXTENDED COPY; nil means only this one can be a
	// copy source or destination.
	CopyTargets func(naa uint64) (CopyTarget, bool)
	// AllowSanitize enables SANITIZE, which erases the whole medium; when
	// false it is an unsupported command.
	AllowSanitize bool
	// SanitizeBytesPerSecond caps the rate of a SANITIZE OVERWRITE (0: no
	// limit), so that it leaves disk bandwidth to other logical units.
	SanitizeBytesPerSecond uint64
}

// CopyTarget is what EXTENDED COPY needs to know of a logical unit to check a
// segment before any data moves.
type CopyTarget struct {
	BlockSize uint32
	Blocks    uint64
	ReadOnly  bool
}

// Defaults used when Config fields are zero.
const (
	DefaultVendorID  = "ATGT"
	DefaultProductID = "atgt disk"
	DefaultRevision  = "0001"
	// MaxTransferBytes is the largest transfer of one command a LUN accepts (the
	// Block Limits page's MAXIMUM TRANSFER LENGTH): the target buffers no more
	// write data for one command.
	MaxTransferBytes = 4 << 20
	defaultMaxXfer   = MaxTransferBytes
)

// withDefaults fills in zero fields so the rest of the package never has to
// guard against them.
func (c Config) withDefaults() Config {
	if c.VendorID == "" {
		c.VendorID = DefaultVendorID
	}
	if c.ProductID == "" {
		c.ProductID = DefaultProductID
	}
	if c.Revision == "" {
		c.Revision = DefaultRevision
	}
	if c.BlockSize != 512 && c.BlockSize != 4096 {
		c.BlockSize = 512
	}
	if c.PortalGroupTag == 0 {
		c.PortalGroupTag = 1
	}
	if c.RelativePortID == 0 {
		c.RelativePortID = 1
	}
	if c.MaxTransferBlocks == 0 {
		c.MaxTransferBlocks = defaultMaxXfer / c.BlockSize
	}
	if c.SerialNumber == "" {
		c.SerialNumber = hex16(c.NAA)
	}
	c.SerialNumber = CleanSerial(c.SerialNumber)
	return c
}

// MaxSerialLength is the longest serial number the LU reports whole both in
// the Unit Serial Number VPD page and after the 8-byte vendor ID of the T10
// vendor ID designator (252 bytes at most, as the page code keeps them).
const MaxSerialLength = 244

// CleanSerial is the one form of a serial number the LU reports, in VPD
// 0x80 and in VPD 0x83's T10 vendor ID designator alike, so that both name
// the same LU: printable ASCII (SPC-4 4.4.1; other bytes become spaces), at
// most MaxSerialLength bytes. Config validation refuses other serials; this
// keeps an embedder's Config from making two identities.
func CleanSerial(s string) string {
	b := make([]byte, min(len(s), MaxSerialLength))
	putASCII(b, s)
	return string(b)
}

func hex16(v uint64) string {
	const digits = "0123456789abcdef"
	var b [16]byte
	for i := 15; i >= 0; i-- {
		b[i] = digits[v&0xF]
		v >>= 4
	}
	return string(b[:])
}

// NAAFromName derives a stable 8-byte NAA identifier from a name such as
// "iqn.2024-01.org.example:disk1/lun0", so a LUN keeps its identity (and
// multipath keeps working) across restarts. It uses NAA type 3 (locally
// assigned, 60 bits of hash): type 5/6 would need an IEEE company ID that
// this project does not own.
func NAAFromName(s string) uint64 {
	sum := sha256.Sum256([]byte(s))
	v := binary.BigEndian.Uint64(sum[:8])
	return 3<<60 | v&(1<<60-1)
}
