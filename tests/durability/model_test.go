package durability

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
)

// version is one content a block may hold after a power loss.
type version struct {
	id    uint64 // the write that produced it (0: the content at the start)
	data  []byte
	acked bool   // GOOD was received for the write
	what  string // which write, for a failure message
}

// blockModel is what one block may hold. vers[0] is its floor: the newest content
// the initiator was told is stable (or the content read back at the start); the
// block must hold it or a version written after it. past keeps older versions, to
// tell lost stable data from garbage in a failure.
type blockModel struct {
	vers []version
	past []version
}

// model tracks, per block, what the initiator was told through a run of commands:
// which writes were sent, which were acknowledged, and which were acknowledged as
// stable (FUA, WCE=0, or followed by a successful SYNCHRONIZE CACHE sent after they
// were acknowledged). Writes may run concurrently but never overlap while both are
// outstanding, so each block's versions are in the order they were written.
type model struct {
	mu     sync.Mutex
	blocks []blockModel
	nextID uint64
	// stableAcks counts writes acknowledged as stable (directly or by a sync).
	stableAcks int
}

// newModel starts from img, all of it the floor (it was read back from the LUN).
func newModel(img []byte) *model {
	m := &model{blocks: make([]blockModel, len(img)/blockSize)}
	for b := range m.blocks {
		m.blocks[b].vers = []version{{data: img[b*blockSize : (b+1)*blockSize], acked: true, what: "content before the run"}}
	}
	return m
}

// beginWrite records a write about to be sent and returns its id.
func (m *model) beginWrite(lba uint64, data []byte, what string) uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.nextID++
	id := m.nextID
	for i := range len(data) / blockSize {
		bm := &m.blocks[lba+uint64(i)]
		bm.vers = append(bm.vers, version{id: id, data: data[i*blockSize : (i+1)*blockSize], what: what})
	}
	return id
}

// endWrite records how a write ended: ok if GOOD came back, stable if GOOD promised
// the data is durable. A failed write stays a candidate: it may have landed in part.
func (m *model) endWrite(lba uint64, blocks int, id uint64, ok, stable bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !ok {
		return
	}
	if stable {
		m.stableAcks++
	}
	for i := range blocks {
		bm := &m.blocks[lba+uint64(i)]
		for j := range bm.vers {
			if bm.vers[j].id == id {
				bm.vers[j].acked = true
			}
		}
		if stable {
			bm.raise(id)
		}
	}
}

// raise makes version id the floor, if it is still above it.
func (bm *blockModel) raise(id uint64) {
	for j := 1; j < len(bm.vers); j++ {
		if bm.vers[j].id == id {
			bm.past = append(bm.past, bm.vers[:j]...)
			bm.vers = bm.vers[j:]
			return
		}
	}
}

// syncSnapshot is, per block, the newest write acknowledged before a SYNCHRONIZE
// CACHE was sent: what its GOOD makes stable.
type syncSnapshot map[int]uint64

// beginSync records a SYNCHRONIZE CACHE of blocks from lba (0: to the end of the
// LUN) about to be sent.
func (m *model) beginSync(lba, blocks uint64) syncSnapshot {
	m.mu.Lock()
	defer m.mu.Unlock()
	snap := syncSnapshot{}
	end := uint64(len(m.blocks))
	if blocks != 0 {
		end = min(end, lba+blocks)
	}
	for b := int(lba); b < int(end); b++ {
		vers := m.blocks[b].vers
		for j := len(vers) - 1; j > 0; j-- {
			if vers[j].acked {
				snap[b] = vers[j].id
				break
			}
		}
	}
	return snap
}

// endSync applies a successful SYNCHRONIZE CACHE.
func (m *model) endSync(snap syncSnapshot, ok bool) {
	if !ok {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	ids := map[uint64]bool{}
	for b, id := range snap {
		before := m.blocks[b].vers[0].id
		m.blocks[b].raise(id)
		if m.blocks[b].vers[0].id != before {
			ids[id] = true
		}
	}
	m.stableAcks += len(ids)
}

// violation is a block holding something the model does not allow.
type violation struct {
	block uint64
	// kind: "lost-stable" (an older version than the acknowledged-stable one),
	// "zeros" or "garbage" (never written).
	kind   string
	detail string
}

func (v violation) String() string {
	return fmt.Sprintf("block %d: %s: %s", v.block, v.kind, v.detail)
}

// checkStats says what a check covered, to show the test is not vacuous.
type checkStats struct {
	// pinned: blocks whose only allowed content was a write acknowledged as stable
	// in this run (no later write), found intact.
	pinned int
	// reverted: blocks that legitimately lost their newest write (it was not yet
	// stable) and hold an older allowed version.
	reverted int
	// later: blocks holding a version newer than their floor.
	later int
}

func (s *checkStats) add(o checkStats) {
	s.pinned += o.pinned
	s.reverted += o.reverted
	s.later += o.later
}

// check compares the LUN content read after a restart with the model.
func (m *model) check(img []byte) ([]violation, checkStats) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []violation
	var st checkStats
	for b := range m.blocks {
		bm := &m.blocks[b]
		got := img[b*blockSize : (b+1)*blockSize]
		match := -1
		for j := len(bm.vers) - 1; j >= 0; j-- {
			if bytes.Equal(got, bm.vers[j].data) {
				match = j
				break
			}
		}
		if match >= 0 {
			switch {
			case len(bm.vers) == 1 && bm.vers[0].id != 0:
				st.pinned++
			case match < len(bm.vers)-1:
				st.reverted++
			}
			if match > 0 {
				st.later++
			}
			continue
		}
		floor := bm.vers[0]
		v := violation{block: uint64(b), kind: "garbage"}
		for j := len(bm.past) - 1; j >= 0; j-- {
			if bytes.Equal(got, bm.past[j].data) {
				v.kind = "lost-stable"
				v.detail = fmt.Sprintf("holds the older %q instead of %q (acknowledged as stable) or one of %d later writes", bm.past[j].what, floor.what, len(bm.vers)-1)
				break
			}
		}
		if v.kind == "garbage" {
			if bytes.Equal(got, make([]byte, blockSize)) {
				v.kind = "zeros"
			}
			v.detail = fmt.Sprintf("holds data never written there (first bytes % x); allowed: %q or one of %d later writes", got[:8], floor.what, len(bm.vers)-1)
		}
		out = append(out, v)
	}
	return out, st
}

// TestDurabilityModel checks the checker on a hand-made history.
func TestDurabilityModel(t *testing.T) {
	fill := func(v byte, n int) []byte { return bytes.Repeat([]byte{v}, n*blockSize) }
	m := newModel(fill(0xEE, 4))
	// Block 1: plain C, synced, then a failed write D: C or D.
	c := m.beginWrite(1, fill(0xC, 1), "plain C")
	m.endWrite(1, 1, c, true, false)
	m.endSync(m.beginSync(0, 0), true)
	d := m.beginWrite(1, fill(0xD, 1), "failed D")
	m.endWrite(1, 1, d, false, false)
	// Blocks 2-3: a sync sent while E was outstanding does not cover E.
	e := m.beginWrite(2, fill(0xE, 2), "plain E")
	snap := m.beginSync(0, 0)
	m.endWrite(2, 2, e, true, false)
	m.endSync(snap, true)
	// Block 0: FUA write A, then a plain write B not synced: A or B.
	a := m.beginWrite(0, fill(0xA, 1), "FUA A")
	m.endWrite(0, 1, a, true, true)
	b := m.beginWrite(0, fill(0xB, 1), "plain B")
	m.endWrite(0, 1, b, true, false)
	if m.stableAcks != 2 {
		t.Errorf("stableAcks = %d, want 2 (C by the first sync, and A)", m.stableAcks)
	}
	for _, tc := range []struct {
		img   []byte
		kinds []string
	}{
		{append(append(fill(0xA, 1), fill(0xC, 1)...), fill(0xEE, 2)...), nil},
		{append(append(fill(0xB, 1), fill(0xD, 1)...), fill(0xE, 2)...), nil},
		{append(append(fill(0xEE, 1), fill(0xC, 1)...), fill(0xE, 2)...), []string{"lost-stable"}},
		{append(append(fill(0xA, 1), fill(0, 1)...), fill(0x77, 2)...), []string{"zeros", "garbage", "garbage"}},
	} {
		vs, _ := m.check(tc.img)
		var kinds []string
		for _, v := range vs {
			kinds = append(kinds, v.kind)
		}
		if fmt.Sprint(kinds) != fmt.Sprint(tc.kinds) {
			t.Errorf("image with blocks %x %x %x %x: violations %v, want kinds %v", tc.img[0], tc.img[blockSize], tc.img[2*blockSize], tc.img[3*blockSize], vs, tc.kinds)
		}
	}
}
