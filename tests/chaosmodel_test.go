package tests

import (
	"fmt"
	"sync"
	"testing"

	"github.com/atgt/atgt/tests/blockstamp"
)

// The chaos test's blocks and the model that judges what a block may hold.
//
// Every 512-byte block written carries its LBA (or wildLBA for WRITE SAME, whose one
// block lands at many LBAs), a generation unique in the run, and a CRC-32C of the
// rest, so a read shows which write a block came from and whether it is whole. An
// unmapped block reads as zeros (generation 0).
const (
	chaosBlock = 512
	wildLBA    = blockstamp.Wild
)

// encodeBlock fills b's first block for lba and generation gen (blockstamp).
func encodeBlock(b []byte, lba, gen uint64) { blockstamp.Encode(b[:chaosBlock], lba, gen) }

// decodeBlock returns the generation b's first block, read at lba, holds (0: zeros), or
// an error if it is torn, corrupt or another LBA's (blockstamp).
func decodeBlock(b []byte, lba uint64) (uint64, error) { return blockstamp.Decode(b[:chaosBlock], lba) }

// version states: what became of one write-like command on a block.
const (
	pending   = iota // sent, no answer yet
	acked            // GOOD: the block holds it, or something written after it
	uncertain        // failed, aborted, timed out: it may or may not have landed
)

// blockModel is what one block may hold: the versions written to it in the order
// they were issued (one at a time: the load never overlaps commands on a block).
type blockModel struct {
	versions []version
	lastAck  int // index of the last acknowledged version; -1 for none
}

type version struct {
	gen   uint64 // 0 for UNMAP
	state int
}

// chaosModel is the model of every block.
type chaosModel struct {
	mu     sync.Mutex
	blocks []blockModel
}

func newChaosModel(n int) *chaosModel {
	m := &chaosModel{blocks: make([]blockModel, n)}
	for i := range m.blocks {
		m.blocks[i].lastAck = -1
	}
	return m
}

// issue records a write of gen to blocks [lba, lba+n) and returns their version
// indexes (all the same position in each block's list is not guaranteed).
func (m *chaosModel) issue(lba uint64, n int, gen uint64) []int {
	m.mu.Lock()
	defer m.mu.Unlock()
	idx := make([]int, n)
	for i := range n {
		b := &m.blocks[lba+uint64(i)]
		idx[i] = len(b.versions)
		b.versions = append(b.versions, version{gen: gen, state: pending})
	}
	return idx
}

// settle records the outcome of a write issued with issue.
func (m *chaosModel) settle(lba uint64, idx []int, state int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, v := range idx {
		b := &m.blocks[lba+uint64(i)]
		b.versions[v].state = state
		if state == acked && v > b.lastAck {
			b.lastAck = v
		}
	}
}

// allowed reports whether gen may be what block lba holds now: the last
// acknowledged version, or any version issued after it (acknowledged, pending or
// uncertain); with nothing acknowledged, also the initial zeros. Never an older one:
// that would be a lost or reordered acknowledged write.
func (m *chaosModel) allowed(lba uint64, gen uint64) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	b := &m.blocks[lba]
	if b.lastAck < 0 && gen == 0 {
		return true
	}
	for i := max(b.lastAck, 0); i < len(b.versions); i++ {
		if b.versions[i].gen == gen {
			return true
		}
	}
	return false
}

// describe says what block lba's history is, for a failure message.
func (m *chaosModel) describe(lba uint64) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	b := &m.blocks[lba]
	return fmt.Sprintf("versions %v, last acknowledged index %d", b.versions, b.lastAck)
}

// TestChaosModel checks the model's judgement on a hand-made history.
func TestChaosModel(t *testing.T) {
	m := newChaosModel(4)
	if !m.allowed(0, 0) {
		t.Fatal("a block never written may read as zeros")
	}
	v1 := m.issue(0, 2, 11)
	if !m.allowed(0, 11) || !m.allowed(0, 0) {
		t.Fatal("with a write pending, old and new are both allowed")
	}
	m.settle(0, v1, acked)
	if m.allowed(0, 0) || !m.allowed(1, 11) {
		t.Fatal("after the ack only the acknowledged version is allowed")
	}
	v2 := m.issue(0, 1, 12)
	m.settle(0, v2, uncertain)
	v3 := m.issue(0, 1, 13)
	m.settle(0, v3, acked)
	if m.allowed(0, 11) || m.allowed(0, 12) || !m.allowed(0, 13) {
		t.Fatalf("after a later ack, older versions (even uncertain ones) are lost writes: %s", m.describe(0))
	}
	v4 := m.issue(0, 1, 14)
	m.settle(0, v4, uncertain)
	if !m.allowed(0, 13) || !m.allowed(0, 14) {
		t.Fatal("an uncertain write after the last ack may or may not have landed")
	}
	var b [chaosBlock]byte
	encodeBlock(b[:], 3, 77)
	if g, err := decodeBlock(b[:], 3); err != nil || g != 77 {
		t.Fatalf("decode: %d, %v", g, err)
	}
	if _, err := decodeBlock(b[:], 2); err == nil {
		t.Fatal("another LBA's block must be refused")
	}
	b[100] ^= 1
	if _, err := decodeBlock(b[:], 3); err == nil {
		t.Fatal("a torn block must be refused")
	}
}
