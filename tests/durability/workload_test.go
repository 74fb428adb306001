package durability

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"

	"github.com/atgt/atgt/messages/scsi"
	"github.com/atgt/atgt/tests/initiator"
)

// opKind is one of the commands in a workload.
type opKind int

const (
	opWrite opKind = iota // WRITE 10/12/16, WRITE AND VERIFY 16, WRITE SAME 16, UNMAP
	opSync                // SYNCHRONIZE CACHE 10/16
	opWCE                 // MODE SELECT flipping WCE
)

// op is one command of a workload.
type op struct {
	kind opKind
	name string // e.g. "WRITE(10) FUA", for failure messages
	cdb  []byte
	out  []byte // data-out
	// Writes: the range and what it leaves in it (for WRITE SAME, out repeated;
	// for UNMAP and WRITE SAME with UNMAP, zeros: the LUN reports LBPRZ), and
	// whether the command itself demands stability (FUA, WRITE AND VERIFY).
	lba    uint64
	data   []byte
	stable bool
	// Syncs: the range (blocks 0 = to the end of the LUN) and IMMED. With IMMED
	// GOOD promises nothing, so such a sync makes nothing stable in the model.
	blocks uint64
	immed  bool
	// opWCE: the value set.
	wce bool
}

// batch is commands sent at the same time, each on its own session. Writes in a
// batch never overlap, so the model knows the order of every block's writes. A WCE
// flip is alone in its batch or sent beside other commands: a write beside it may
// see either WCE bit, so the model counts on WCE only for writes in batches without
// a flip.
type batch []op

// plan draws a seeded workload of n batches for up to sessions concurrent commands:
// about 47% plain writes (some of them UNMAP or WRITE SAME with UNMAP), 30% FUA
// writes (WRITE 10/12/16 with FUA, or WRITE AND VERIFY), 15% SYNCHRONIZE CACHE (10 or
// 16, whole LUN or a range, some with IMMED), and a WCE flip in one batch of 40, half
// of them beside other commands. While WCE=0 it sends no SYNCHRONIZE CACHE, as Linux
// does not to a write-through disk, so that nothing but the target makes a write
// acknowledged under WCE=1 before the flip stable. Most writes hit a small hot area
// so that blocks are overwritten often.
func plan(rng *rand.Rand, n, sessions int) []batch {
	var out []batch
	wce := true
	for range n {
		var b batch
		if rng.IntN(40) == 0 {
			wce = !wce
			b = batch{{kind: opWCE, name: fmt.Sprintf("MODE SELECT WCE=%v", wce), wce: wce}}
			if sessions == 1 || rng.IntN(2) == 0 {
				out = append(out, b)
				continue
			}
		}
		var used [][2]uint64
		for range 1 + rng.IntN(sessions-len(b)) {
			k := rng.IntN(100)
			if k >= 85 {
				if wce {
					b = append(b, syncOp(rng))
				}
				continue
			}
			blocks := uint64(1 + rng.IntN(16))
			area := uint64(lunBlocks)
			if rng.IntN(4) != 0 {
				area = 256
			}
			lba := rng.Uint64N(area - blocks + 1)
			overlaps := false
			for _, u := range used {
				if lba < u[1] && u[0] < lba+blocks {
					overlaps = true
				}
			}
			if overlaps {
				continue
			}
			used = append(used, [2]uint64{lba, lba + blocks})
			if k < 8 {
				b = append(b, unmapOp(rng, lba, blocks))
				continue
			}
			b = append(b, writeOp(rng, lba, blocks, k >= 55))
		}
		if len(b) > 0 {
			out = append(out, b)
		}
	}
	return out
}

// unmapOp draws a deallocation of blocks at lba: UNMAP with one descriptor, or
// WRITE SAME(16) with UNMAP and a zero block (or NDOB), which the LUN turns into a
// deallocation. Both leave zeros (LBPRZ) and are stable only with WCE=0.
func unmapOp(rng *rand.Rand, lba, blocks uint64) op {
	o := op{kind: opWrite, lba: lba, data: make([]byte, int(blocks)*blockSize)}
	switch rng.IntN(3) {
	case 0:
		o.name = "UNMAP"
		o.out = make([]byte, 24)
		binary.BigEndian.PutUint16(o.out[0:], 22)
		binary.BigEndian.PutUint16(o.out[2:], 16)
		binary.BigEndian.PutUint64(o.out[8:], lba)
		binary.BigEndian.PutUint32(o.out[16:], uint32(blocks))
		o.cdb = make([]byte, 10)
		o.cdb[0] = scsi.OpUnmap
		binary.BigEndian.PutUint16(o.cdb[7:], uint16(len(o.out)))
		return o
	case 1:
		o.name = "WRITE SAME(16) UNMAP"
		o.out = make([]byte, blockSize)
	default:
		o.name = "WRITE SAME(16) UNMAP NDOB"
	}
	o.cdb = make([]byte, 16)
	o.cdb[0], o.cdb[1] = scsi.OpWriteSame16, 0x08
	if o.out == nil {
		o.cdb[1] |= 0x01 // NDOB: no data-out, the block is zeros
	}
	binary.BigEndian.PutUint64(o.cdb[2:], lba)
	binary.BigEndian.PutUint32(o.cdb[10:], uint32(blocks))
	return o
}

// writeOp draws a write of blocks at lba in one of its CDB forms.
func writeOp(rng *rand.Rand, lba, blocks uint64, stable bool) op {
	o := op{kind: opWrite, lba: lba, stable: stable}
	fua := byte(0)
	if stable {
		fua = 0x08
	}
	switch v := rng.IntN(10); {
	case v == 0 && !stable:
		// WRITE SAME(16) without UNMAP: one block repeated (stable only with WCE=0).
		o.name, o.out = "WRITE SAME(16)", randomBytes(rng, blockSize)
		o.data = bytes.Repeat(o.out, int(blocks))
		o.cdb = make([]byte, 16)
		o.cdb[0] = scsi.OpWriteSame16
		binary.BigEndian.PutUint64(o.cdb[2:], lba)
		binary.BigEndian.PutUint32(o.cdb[10:], uint32(blocks))
		return o
	case v == 0:
		o.name = "WRITE AND VERIFY(16)"
		o.cdb = make([]byte, 16)
		o.cdb[0] = scsi.OpWriteAndVerify16
		binary.BigEndian.PutUint64(o.cdb[2:], lba)
		binary.BigEndian.PutUint32(o.cdb[10:], uint32(blocks))
	case v < 4:
		o.name = "WRITE(10)"
		o.cdb = make([]byte, 10)
		o.cdb[0], o.cdb[1] = scsi.OpWrite10, fua
		binary.BigEndian.PutUint32(o.cdb[2:], uint32(lba))
		binary.BigEndian.PutUint16(o.cdb[7:], uint16(blocks))
	case v < 6:
		o.name = "WRITE(12)"
		o.cdb = make([]byte, 12)
		o.cdb[0], o.cdb[1] = scsi.OpWrite12, fua
		binary.BigEndian.PutUint32(o.cdb[2:], uint32(lba))
		binary.BigEndian.PutUint32(o.cdb[6:], uint32(blocks))
	default:
		o.name = "WRITE(16)"
		o.cdb = make([]byte, 16)
		o.cdb[0], o.cdb[1] = scsi.OpWrite16, fua
		binary.BigEndian.PutUint64(o.cdb[2:], lba)
		binary.BigEndian.PutUint32(o.cdb[10:], uint32(blocks))
	}
	if fua != 0 {
		o.name += " FUA"
	}
	o.out = randomBytes(rng, int(blocks)*blockSize)
	o.data = o.out
	return o
}

// syncOp draws a SYNCHRONIZE CACHE: 10 or 16, whole LUN or a range, rarely IMMED.
func syncOp(rng *rand.Rand) op {
	o := op{kind: opSync, immed: rng.IntN(8) == 0}
	if rng.IntN(3) == 0 {
		o.blocks = uint64(1 + rng.IntN(512))
		o.lba = rng.Uint64N(lunBlocks - o.blocks + 1)
	}
	immed := byte(0)
	if o.immed {
		immed = 0x02
	}
	if rng.IntN(2) == 0 {
		o.name = "SYNCHRONIZE CACHE(10)"
		o.cdb = make([]byte, 10)
		o.cdb[0], o.cdb[1] = scsi.OpSynchronizeCache10, immed
		binary.BigEndian.PutUint32(o.cdb[2:], uint32(o.lba))
		binary.BigEndian.PutUint16(o.cdb[7:], uint16(o.blocks))
	} else {
		o.name = "SYNCHRONIZE CACHE(16)"
		o.cdb = make([]byte, 16)
		o.cdb[0], o.cdb[1] = scsi.OpSynchronizeCache16, immed
		binary.BigEndian.PutUint64(o.cdb[2:], o.lba)
		binary.BigEndian.PutUint32(o.cdb[10:], uint32(o.blocks))
	}
	if o.immed {
		o.name += " IMMED"
	}
	return o
}

// randomBytes returns n (a multiple of 8) bytes from rng.
func randomBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := 0; i < n; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], rng.Uint64())
	}
	return b
}

// driver sends batches through sessions and records everything in the model.
type driver struct {
	m        *model
	sessions []*initiator.Session
	// wceOff is true only while WCE=0 is known: then every acknowledged write is
	// stable. A failed MODE SELECT leaves it false (the safe assumption).
	wceOff bool
	label  string // "cycle N", for the model's descriptions
	// acked and failed count command outcomes.
	acked, failed int
	// oddFailures lists failures other than CHECK CONDITION, MEDIUM ERROR: the only
	// way a failed write or sync may end (README "Durability").
	oddFailures []string
}

// run sends one batch and waits for all of it.
func (d *driver) run(bi int, b batch) {
	type pending struct {
		op   op
		id   uint64
		snap syncSnapshot
		err  error
	}
	ps := make([]pending, len(b))
	// A write beside a WCE flip may see either bit: only FUA makes it stable.
	flip := false
	for _, o := range b {
		flip = flip || o.kind == opWCE
	}
	wceOff := d.wceOff && !flip
	for i, o := range b {
		ps[i].op = o
		switch o.kind {
		case opWCE:
			// Turning WCE off flushes the cache before GOOD: like a whole-LUN
			// SYNCHRONIZE CACHE, it makes every write acknowledged before it
			// was sent stable.
			ps[i].snap = d.m.beginSync(0, 0)
		case opWrite:
			what := fmt.Sprintf("%s batch %d: %s lba %d+%d (session %d)", d.label, bi, o.name, o.lba, len(o.data)/blockSize, i)
			ps[i].id = d.m.beginWrite(o.lba, o.data, what)
		case opSync:
			ps[i].snap = d.m.beginSync(o.lba, o.blocks)
		}
	}
	var wg sync.WaitGroup
	for i := range ps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, o := d.sessions[i], ps[i].op
			ps[i].err = retryUA(func() error {
				if o.kind == opWCE {
					return s.ModeSelectWCE(0, o.wce)
				}
				r, err := s.Command(0, o.cdb, o.out, 0)
				if err == nil && r.Status != scsi.StatusGood {
					err = &initiator.SCSIError{Status: r.Status, Sense: r.Sense}
				}
				return err
			})
		}()
	}
	wg.Wait()
	for _, p := range ps {
		ok := p.err == nil
		if ok {
			d.acked++
		} else {
			d.failed++
			var se *initiator.SCSIError
			if !errors.As(p.err, &se) || se.Status != scsi.StatusCheckCondition || se.Key() != scsi.SenseMediumError {
				d.oddFailures = append(d.oddFailures, fmt.Sprintf("%s batch %d: %s: %v", d.label, bi, p.op.name, p.err))
			}
		}
		switch p.op.kind {
		case opWrite:
			d.m.endWrite(p.op.lba, len(p.op.data)/blockSize, p.id, ok, p.op.stable || wceOff)
		case opSync:
			d.m.endSync(p.snap, ok && !p.op.immed)
		case opWCE:
			d.m.endSync(p.snap, ok && !p.op.wce && !d.wceOff)
			d.wceOff = ok && !p.op.wce
		}
	}
}
