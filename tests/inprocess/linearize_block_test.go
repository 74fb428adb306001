package inprocess

import (
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/atgt/atgt/tests/blockstamp"
)

// The blocks the linearizability test writes: each names its LBA and the command
// (generation) that wrote it, with a CRC.

const (
	linBlock   = blockSize
	linRegion  = 384  // blocks under test
	linBase    = 8192 // first LBA of the region
	linDepth   = 48   // tasks in flight per session
	linWild    = blockstamp.Wild
	linZeroGen = 0
)

// linEncode fills b's first block for lba and generation gen (blockstamp).
func linEncode(b []byte, lba, gen uint64) { blockstamp.Encode(b[:linBlock], lba, gen) }

// linDecode returns the generation b's first block, read at lba, holds (0: zeros), or
// an error if it is torn, corrupt or another LBA's (blockstamp).
func linDecode(b []byte, lba uint64) (uint64, error) { return blockstamp.Decode(b[:linBlock], lba) }

// linTorn describes a block that failed its CRC: the generation each 8-byte word
// of it belongs to (for LBA lba or a WRITE SAME block), as runs "from-to:gen".
func linTorn(b []byte, lba uint64) string {
	inv := uint64(blockstamp.Mix) // Newton's iteration for the inverse mod 2^64
	for range 6 {
		inv *= 2 - blockstamp.Mix*inv
	}
	word := func(i int, l uint64) uint64 {
		return (binary.BigEndian.Uint64(b[i:]) ^ uint64(i) ^ l) * inv
	}
	out := fmt.Sprintf("header lba %d gen %d;", int64(binary.BigEndian.Uint64(b)), binary.BigEndian.Uint64(b[8:]))
	start, cur := 16, uint64(0)
	name := func(i int) uint64 {
		g := word(i, lba)
		if g > 1<<40 {
			if w := word(i, linWild); w < 1<<40 {
				return w | 1<<63 // a WRITE SAME block
			}
		}
		return g
	}
	for i := 16; i < linBlock-4; i += 8 {
		g := name(i)
		if i == 16 {
			cur = g
			continue
		}
		if g != cur {
			out += fmt.Sprintf(" %d-%d:%#x", start, i, cur)
			start, cur = i, g
		}
	}
	return out + fmt.Sprintf(" %d-%d:%#x", start, linBlock-4, cur)
}

// linTornGens returns the generations of the writes whose words block b (of LBA lba)
// holds, and whether every word (and the header) is one of them.
func linTornGens(b []byte, lba uint64) ([]uint64, bool) {
	inv := uint64(blockstamp.Mix)
	for range 6 {
		inv *= 2 - blockstamp.Mix*inv
	}
	var gens []uint64
	addGen := func(g uint64) {
		if !slices.Contains(gens, g) {
			gens = append(gens, g)
		}
	}
	hl, hg := binary.BigEndian.Uint64(b), binary.BigEndian.Uint64(b[8:])
	switch {
	case hl == 0 && hg == 0:
		addGen(linZeroGen)
	case hl == lba || hl == linWild:
		addGen(hg)
	default:
		return nil, false
	}
	for i := 16; i+8 <= linBlock-4; i += 8 { // the last word is half CRC
		v := binary.BigEndian.Uint64(b[i:])
		if v == 0 {
			addGen(linZeroGen)
			continue
		}
		g := (v ^ uint64(i) ^ lba) * inv
		if g > 1<<40 {
			g = (v ^ uint64(i) ^ linWild) * inv
		}
		if g > 1<<40 || g == 0 {
			return gens, false
		}
		addGen(g)
	}
	return gens, true
}
