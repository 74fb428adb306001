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
	opWrite opKind = iota // WRITE 10/12/16, WRITE AND VERIFY 16, WRITE SAME 16
	opSync                // SYNCHRONIZE CACHE 10/16
	opWCE                 // MODE SELECT flipping WCE
)

// op is one command of a workload.
type op struct {
	kind opKind
	name string // e.g. "WRITE(10) FUA", for failure messages
	cdb  []byte
	out  []byte // data-out
	// Writes: the range and what it leaves in it (for WRITE SAME, out repeated),
	// and whether the command itself demands stability (FUA, WRITE AND VERIFY).
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
// batch never overlap, and a WCE flip is alone in its batch, so the model knows the
// order of every block's writes and the WCE bit every write saw.
type batch []op

// plan draws a seeded workload of n batches for up to sessions concurrent commands:
// about 55% plain writes, 30% FUA writes (WRITE 10/12/16 with FUA, or WRITE AND
// VERIFY), 15% SYNCHRONIZE CACHE (10 or 16, whole LUN or a range, some with IMMED),
// and a WCE flip in one batch of 40. Most writes hit a small hot area so that blocks
// are overwritten often.
func plan(rng *rand.Rand, n, sessions int) []batch {
	var out []batch
	wce := true
	for range n {
		if rng.IntN(40) == 0 {
			wce = !wce
			out = append(out, batch{{kind: opWCE, name: fmt.Sprintf("MODE SELECT WCE=%v", wce), wce: wce}})
			continue
		}
		var b batch
		var used [][2]uint64
		for range 1 + rng.IntN(sessions) {
			k := rng.IntN(100)
			if k >= 85 {
				b = append(b, syncOp(rng))
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
			b = append(b, writeOp(rng, lba, blocks, k >= 55))
		}
		out = append(out, b)
	}
	return out
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
	for i, o := range b {
		ps[i].op = o
		switch o.kind {
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
			d.m.endWrite(p.op.lba, len(p.op.data)/blockSize, p.id, ok, p.op.stable || d.wceOff)
		case opSync:
			d.m.endSync(p.snap, ok && !p.op.immed)
		case opWCE:
			d.wceOff = ok && !p.op.wce
		}
	}
}
