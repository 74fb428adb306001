package iscsi

import (
	"encoding/binary"
	"hash/crc32"
)

// Digest byte order. RFC 7143 section 13.1 defines CRC32C as the reflected Castagnoli
// CRC (init 0xffffffff, final xor), which is exactly hash/crc32 with the Castagnoli
// table, and its appendix B.4 gives examples as wire bytes: 32 zero bytes give
// "aa 36 91 8a", i.e. crc32 value 0x8a9136aa sent least significant byte first.
// libiscsi (lib/pdu.c iscsi_queue_pdu) stores its header digest the same way,
// data[48+0] = crc & 0xff ... data[48+3] = crc >> 24, and Linux puts the CPU-order
// crc32c result through cpu_to_le32. So digests go on the wire LITTLE-endian, unlike
// every other iSCSI field. libiscsi computes the header digest over the 48-byte BHS
// only (it never sends an AHS) and always offers DataDigest=None.

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// DigestLength is the size of a header or data digest on the wire.
const DigestLength = 4

// CRC32C computes the iSCSI digest over the concatenation of bufs (hash/crc32
// Castagnoli table, hardware accelerated where the CPU has it).
func CRC32C(bufs ...[]byte) uint32 {
	var c uint32
	for _, b := range bufs {
		c = crc32.Update(c, castagnoli, b)
	}
	return c
}

// putDigest writes a digest in its wire byte order (little-endian, see above).
func putDigest(b []byte, c uint32) { binary.LittleEndian.PutUint32(b, c) }

// getDigest reads a digest in its wire byte order.
func getDigest(b []byte) uint32 { return binary.LittleEndian.Uint32(b) }
