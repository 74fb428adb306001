// Package blockstamp writes and checks self-describing test blocks. Each block
// carries its LBA, a generation and a CRC, so that a test that reads it back can
// tell which write it came from, and whether it is torn, corrupt or another LBA's.
// The chaos test and the data path's linearizability test share it.
package blockstamp

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// Wild is the LBA a block carries when one block is written to many LBAs at once
// (WRITE SAME): it matches any LBA.
const Wild = ^uint64(0)

// Mix is the multiplier that spreads a block's generation over its body.
const Mix = 0x9e3779b97f4a7c15

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Encode fills b (one block, at least 20 bytes) for lba and generation gen.
func Encode(b []byte, lba, gen uint64) {
	n := len(b)
	binary.BigEndian.PutUint64(b[0:], lba)
	binary.BigEndian.PutUint64(b[8:], gen)
	for i := 16; i < n-4; i += 8 {
		binary.BigEndian.PutUint64(b[i:], gen*Mix^uint64(i)^lba)
	}
	binary.BigEndian.PutUint32(b[n-4:], crc32.Checksum(b[:n-4], castagnoli))
}

// Decode returns the generation the block b read at lba holds (0 for zeros: never
// written, or unmapped), or an error if it is torn, corrupt or another LBA's.
func Decode(b []byte, lba uint64) (uint64, error) {
	zero := true
	for _, c := range b {
		if c != 0 {
			zero = false
			break
		}
	}
	if zero {
		return 0, nil
	}
	n := len(b)
	if crc32.Checksum(b[:n-4], castagnoli) != binary.BigEndian.Uint32(b[n-4:]) {
		return 0, fmt.Errorf("LBA %d: torn or corrupt block (CRC mismatch)", lba)
	}
	if got := binary.BigEndian.Uint64(b); got != lba && got != Wild {
		return 0, fmt.Errorf("LBA %d: holds LBA %d's block", lba, got)
	}
	return binary.BigEndian.Uint64(b[8:]), nil
}
