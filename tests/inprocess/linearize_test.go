package inprocess

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atgt/atgt/backend"
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/iscsi"
	"github.com/atgt/atgt/messages/scsi"
	"github.com/atgt/atgt/tests/initiator"
)

// A randomized linearizability test of the LUN data path. Two sessions send
// overlapping READ, WRITE (some FUA), WRITE SAME (some with UNMAP), UNMAP, COMPARE AND
// WRITE and SYNCHRONIZE CACHE over a small region, at a queue depth of 48 each, with
// mixed task attributes (SIMPLE, ORDERED, HEAD OF QUEUE), bursts of small adjacent
// IO (which the LUN merges into vectored calls) and ABORT TASKs. Every block written
// carries its LBA, a generation unique in the run and a CRC, so a read names the
// command its block came from. After the run each block a READ returned is checked
// per block (a register) against the commands' intervals on a logical clock:
//
//   - its source was sent before the READ was answered (no value from the future);
//   - no acknowledged write to the block is known to have come after the source and
//     before the READ ("known": answered before the other was sent, or ordered so by
//     an ORDERED task of the same session, SAM-5 8.6). A failed, aborted or timed-out
//     write counts as landed before any write sent after its answer (the LUN fences
//     a call it gave up on until the call returns);
//   - the source does not come back after an earlier READ saw another value once the
//     source had ended; for a failed or aborted source, only a value acknowledged
//     after the source's answer counts (README "Failing disks": a late call may land,
//     but never over data acknowledged after it);
//   - a GOOD COMPARE AND WRITE compared against a value the block could hold, and
//     every acknowledged write known to follow the compared value's write follows
//     the COMPARE AND WRITE too (it is atomic against other writes, SBC-4 5.3).
//
// LUN 0 is memory, LUN 1 a file (merged runs are one preadv/pwritev), LUN 2 a file
// whose calls now and then outlive its ioTimeout, LUN 3 a file with two workers whose
// writes now and then take 3 s and are aborted (detached after the grace).
// ATGT_LIN_SECONDS sets the load's length per LUN.
type linLog struct {
	mu    sync.Mutex
	clock atomic.Int64
	ops   []*linOp
	gen   atomic.Uint64
	stats sync.Map // outcome string -> *atomic.Int64
}

func (l *linLog) tick() int64 { return l.clock.Add(1) }

func (l *linLog) add(o *linOp) {
	l.mu.Lock()
	l.ops = append(l.ops, o)
	l.mu.Unlock()
}

func (l *linLog) count(k string) {
	v, _ := l.stats.LoadOrStore(k, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

func linCDB16(op byte, lba uint64, blocks uint32) []byte {
	c := make([]byte, 16)
	c[0] = op
	binary.BigEndian.PutUint64(c[2:], lba)
	binary.BigEndian.PutUint32(c[10:], blocks)
	return c
}

// linSession drives one session.
type linSession struct {
	t     *testing.T
	id    int
	s     *initiator.Session
	lun   uint64
	log   *linLog
	rng   *rand.Rand
	seq   int
	sem   chan struct{}
	wg    sync.WaitGroup
	mu    sync.Mutex
	last  map[uint64][]byte // last block content read per LBA, for COMPARE AND WRITE
	live  map[uint32]*linOp // in flight by ITT, for ABORT TASK
	abort map[uint32]int64  // ITTs an ABORT TASK ended, with the clock after the answer
	fail  func(string, ...any)
	// abortEvery: one ABORT TASK per this many commands; oldest: it aborts the
	// oldest task in flight (the likeliest to be in a slow call).
	abortEvery int
	oldest     bool
	// slowOK: the LUN's calls may take seconds, so a command may outlive the
	// initiator's timeout.
	slowOK bool
}

func (ls *linSession) attr() uint8 {
	if ls.oldest {
		// With calls that take seconds, an ORDERED task would hold every
		// later one behind them: only SIMPLE tasks keep the queue full.
		return iscsi.TaskAttrSimple
	}
	switch r := ls.rng.IntN(100); {
	case r < 7:
		return iscsi.TaskAttrOrdered
	case r < 12:
		return iscsi.TaskAttrHeadOfQueue
	}
	return iscsi.TaskAttrSimple
}

// submit sends one command (after its predecessor is on the wire, so the session's
// order is the CmdSN order) and finishes it in the background.
func (ls *linSession) submit(o *linOp, cdb, data []byte, readLen uint32) {
	ls.sem <- struct{}{}
	o.sess, o.seq = ls.id, ls.seq
	ls.seq++
	o.s = ls.log.tick()
	task := ls.s.SubmitAttr(o.attr, ls.lun, cdb, data, readLen)
	<-task.Sent()
	ls.log.add(o)
	ls.wg.Add(1)
	go func() {
		defer ls.wg.Done()
		itt := task.ITT()
		ls.mu.Lock()
		ls.live[itt] = o
		ls.mu.Unlock()
		res, err := task.Wait()
		e := ls.log.tick()
		ls.mu.Lock()
		delete(ls.live, itt)
		abortedAt, aborted := ls.abort[itt]
		ls.mu.Unlock()
		if err == nil && res.Status != scsi.StatusGood {
			err = &initiator.SCSIError{Status: res.Status, Sense: res.Sense}
		}
		var se *initiator.SCSIError
		switch {
		case err == nil:
			o.acked = true
			o.outcome = "GOOD"
			if readLen > 0 {
				if uint64(len(res.Data)) < o.n*linBlock {
					ls.fail("%s lba %d n %d: %d bytes of Data-In, want %d", o.kind, o.lba, o.n, len(res.Data), o.n*linBlock)
					break
				}
				o.readGen = make([]uint64, o.n)
				o.readOK = true
				ls.mu.Lock()
				for i := range o.n {
					b := res.Data[i*linBlock : (i+1)*linBlock]
					g, derr := linDecode(b, o.lba+i)
					if derr != nil {
						gens, whole := linTornGens(b, o.lba+i)
						if !whole {
							ls.fail("%s (attr %d) [%d,?] lba %d: %v: %s", o.kind, o.attr, o.s, o.lba+i, derr, linTorn(b, o.lba+i))
							o.readOK = false
							continue
						}
						// Words of several writes of this block: a read that
						// overlapped writes in the page cache. Each word's write
						// is checked as if the read had seen it alone.
						ls.log.count("torn block (every part from a write of its LBA)")
						if o.torn == nil {
							o.torn = map[uint64][]uint64{}
						}
						o.torn[i] = gens
						g = gens[0]
						b = nil
					}
					o.readGen[i] = g
					if b == nil {
						continue
					}
					ls.last[o.lba+i] = append([]byte(nil), b...)
				}
				ls.mu.Unlock()
			}
		case errors.As(err, &se):
			o.outcome = fmt.Sprintf("sense %x/%02x/%02x status %#x", se.Key(), se.ASC(), se.ASCQ(), se.Status)
			if se.Key() == scsi.SenseMiscompare {
				o.dropped = true
			}
		case errors.Is(err, initiator.ErrTimeout) && aborted:
			o.outcome = "aborted"
			e = abortedAt
		case errors.Is(err, initiator.ErrTimeout) && ls.slowOK:
			// Queued behind calls that take seconds: still in the target, it
			// may land at any time.
			o.outcome = "initiator timeout"
			o.e = math.MaxInt64
			ls.log.count(fmt.Sprintf("%s attr=%d %s", o.kind, o.attr, o.outcome))
			<-ls.sem
			return
		default:
			o.outcome = "error: " + err.Error()
			ls.fail("%s (attr %d) lba %d n %d: %v", o.kind, o.attr, o.lba, o.n, err)
		}
		o.e = e
		o.ended = true
		ls.log.count(fmt.Sprintf("%s attr=%d %s", o.kind, o.attr, o.outcome))
		<-ls.sem
	}()
}

func (ls *linSession) abortOne() {
	ls.mu.Lock()
	var itt uint32
	found := false
	var first int64
	for k, o := range ls.live {
		if ls.oldest {
			if !found || o.s < first {
				itt, found, first = k, true, o.s
			}
			continue
		}
		itt, found = k, true
		if ls.rng.IntN(3) == 0 {
			break
		}
	}
	ls.mu.Unlock()
	if !found {
		return
	}
	ls.wg.Add(1)
	go func() {
		defer ls.wg.Done()
		resp, err := ls.s.TaskMgmt(iscsi.TMFAbortTask, ls.lun, itt)
		if err != nil {
			ls.fail("ABORT TASK %x: %v", itt, err)
			return
		}
		at := ls.log.tick()
		if resp == iscsi.TMFRespComplete {
			ls.mu.Lock()
			ls.abort[itt] = at
			ls.mu.Unlock()
			ls.log.count("abort complete")
		} else {
			ls.log.count(fmt.Sprintf("abort response %d", resp))
		}
	}()
}

// one sends a random command, or a burst of adjacent small ones.
func (ls *linSession) one() {
	r := ls.rng.IntN(100)
	lba := linBase + ls.rng.Uint64N(linRegion-32)
	n := 1 + ls.rng.Uint64N(16)
	g := ls.log.gen.Add(1)
	o := &linOp{lba: lba, n: n, gen: g, attr: ls.attr()}
	switch {
	case r < 30:
		o.kind = "READ"
		ls.submit(o, linCDB16(0x88, lba, uint32(n)), nil, uint32(n*linBlock))
	case r < 55:
		o.kind, o.write = "WRITE", true
		data := make([]byte, n*linBlock)
		for i := range n {
			linEncode(data[i*linBlock:], lba+i, g)
		}
		cdb := linCDB16(scsi.OpWrite16, lba, uint32(n))
		if ls.rng.IntN(5) == 0 {
			cdb[1] |= 0x08 // FUA
			o.kind = "WRITE FUA"
		}
		ls.submit(o, cdb, data, 0)
	case r < 62:
		o.kind, o.write = "WRITE SAME", true
		o.n = 1 + ls.rng.Uint64N(32)
		data := make([]byte, linBlock)
		linEncode(data, linWild, g)
		ls.submit(o, linCDB16(0x93, lba, uint32(o.n)), data, 0)
	case r < 65:
		o.kind, o.write, o.gen = "WRITE SAME UNMAP", true, linZeroGen
		o.n = 1 + ls.rng.Uint64N(32)
		cdb := linCDB16(0x93, lba, uint32(o.n))
		cdb[1] |= 0x08 // UNMAP
		ls.submit(o, cdb, make([]byte, linBlock), 0)
	case r < 70:
		o.kind, o.write, o.gen = "UNMAP", true, linZeroGen
		o.n = 1 + ls.rng.Uint64N(32)
		data := make([]byte, 24)
		binary.BigEndian.PutUint16(data[0:], 22)
		binary.BigEndian.PutUint16(data[2:], 16)
		binary.BigEndian.PutUint64(data[8:], lba)
		binary.BigEndian.PutUint32(data[16:], uint32(o.n))
		ls.submit(o, []byte{0x42, 0, 0, 0, 0, 0, 0, 0, 24, 0}, data, 0)
	case r < 80:
		o.kind, o.write = "COMPARE AND WRITE", true
		o.n = 1 + ls.rng.Uint64N(2)
		data := make([]byte, 2*o.n*linBlock)
		o.cmpGen = make([]uint64, o.n)
		ls.mu.Lock()
		for i := range o.n {
			b := ls.last[lba+i]
			if b == nil {
				b = make([]byte, linBlock)
				linEncode(b, lba+i, 1)
			}
			copy(data[i*linBlock:], b)
			o.cmpGen[i], _ = linDecode(b, lba+i)
			linEncode(data[(o.n+i)*linBlock:], lba+i, g)
		}
		ls.mu.Unlock()
		cdb := make([]byte, 16)
		cdb[0] = 0x89
		binary.BigEndian.PutUint64(cdb[2:], lba)
		cdb[13] = byte(o.n)
		ls.submit(o, cdb, data, 0)
	case r < 82:
		o.kind, o.n = "SYNCHRONIZE CACHE", 0
		ls.submit(o, []byte{0x91, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, nil, 0)
	default:
		// A burst of adjacent small READs or cached WRITEs, which the LUN holds
		// back and merges while its mailbox is busy.
		read := ls.rng.IntN(2) == 0
		k := 4 + ls.rng.IntN(12)
		at := lba
		for range k {
			m := 1 + ls.rng.Uint64N(8)
			if at+m > linBase+linRegion {
				break
			}
			g := ls.log.gen.Add(1)
			p := &linOp{lba: at, n: m, gen: g, attr: iscsi.TaskAttrSimple}
			if ls.rng.IntN(10) == 0 {
				p.attr = ls.attr()
			}
			if read {
				p.kind = "READ (burst)"
				ls.submit(p, linCDB16(0x88, at, uint32(m)), nil, uint32(m*linBlock))
			} else {
				p.kind, p.write = "WRITE (burst)", true
				data := make([]byte, m*linBlock)
				for i := range m {
					linEncode(data[i*linBlock:], at+i, g)
				}
				ls.submit(p, linCDB16(scsi.OpWrite16, at, uint32(m)), data, 0)
			}
			at += m
		}
	}
	if ls.rng.IntN(ls.abortEvery) == 0 {
		ls.abortOne()
	}
}

// linMerges counts the vectored calls of merged runs.
type linMerges struct{ reads, readParts, writes, writeParts, slow atomic.Int64 }

// linVec passes a file backend's vectored IO and WRITE SAME through, counting the
// merged runs, and now and then delays a call a little so that more IO overlaps.
type linVec struct {
	backend.Backend
	m          *linMerges
	n          atomic.Uint64
	slowFor    time.Duration
	slowShift  uint
	slowWrites bool // only writes are slow
}

func (v *linVec) jitter() { v.jitterOp(false) }

func (v *linVec) jitterOp(write bool) {
	x := v.n.Add(1) * 0x9e3779b97f4a7c15
	if v.slowFor > 0 && x>>v.slowShift == 0 && (write || !v.slowWrites) {
		// Now and then a call outlives the LUN's ioTimeout or the task
		// management grace: the LUN abandons it, and fences it if it writes.
		// Several may overlap (on LUN 3 both workers may be in one), so that
		// writes queue while a hung call is aborted. A write that is itself in a
		// slow call when another's fence goes up may race that late call (the
		// README allows it); this is rare enough not to matter here.
		v.m.slow.Add(1)
		time.Sleep(v.slowFor)
		return
	}
	if x>>58 == 0 {
		time.Sleep(time.Duration(x>>40&0x3ff) * time.Microsecond)
	}
}

func (v *linVec) ReadAt(p []byte, off int64) (int, error) {
	v.jitter()
	return v.Backend.ReadAt(p, off)
}

func (v *linVec) WriteAt(p []byte, off int64, stable bool) error {
	v.jitterOp(true)
	return v.Backend.WriteAt(p, off, stable)
}

func (v *linVec) ReadVec(bufs [][]byte, off int64) error {
	if len(bufs) > 1 {
		v.m.reads.Add(1)
		v.m.readParts.Add(int64(len(bufs)))
	}
	v.jitter()
	return v.Backend.(backend.VectorReader).ReadVec(bufs, off)
}

func (v *linVec) WriteVec(bufs [][]byte, off int64) error {
	if len(bufs) > 1 {
		v.m.writes.Add(1)
		v.m.writeParts.Add(int64(len(bufs)))
	}
	v.jitterOp(true)
	return v.Backend.(backend.VectorWriter).WriteVec(bufs, off)
}

func (v *linVec) WriteSame(block []byte, off, length int64, stable bool) error {
	v.jitter()
	if ws, ok := v.Backend.(backend.WriteSamer); ok {
		return ws.WriteSame(block, off, length, stable)
	}
	return backend.ErrNoNative
}

// TestLinearizableDataPath runs the load on a memory LUN (no vectored IO) and a file
// LUN (vectored, merged runs are one preadv/pwritev) and checks the reads.
func TestLinearizableDataPath(t *testing.T) {
	d := 6 * time.Second
	if v, err := strconv.Atoi(os.Getenv("ATGT_LIN_SECONDS")); err == nil && v > 0 {
		d = time.Duration(v) * time.Second
	}
	cfg := fileAndMemoryConfig(t)
	// LUN 2: a file whose calls now and then take longer than its ioTimeout.
	timeout := 1.0
	cfg.Targets[0].Luns = append(cfg.Targets[0].Luns,
		&pb.Lun{Id: 2, Path: filepath.Join(t.TempDir(), "lun2.img"), SizeBytes: lunSize, IoTimeout: &timeout})
	// LUN 3: a file with two workers and no ioTimeout, whose calls now and then
	// take 3 s: only ABORT TASK (detached after its 2 s grace) ends them.
	cfg.Targets[0].Luns = append(cfg.Targets[0].Luns,
		&pb.Lun{Id: 3, Path: filepath.Join(t.TempDir(), "lun3.img"), SizeBytes: lunSize, Workers: 2})
	merged := map[uint64]*linMerges{1: {}, 2: {}, 3: {}}
	svc := start(t, cfg, func(_ string, lun uint64, b backend.Backend) backend.Backend {
		switch lun {
		case 1:
			return &linVec{Backend: b, m: merged[lun]}
		case 2: // one call in ~8k
			return &linVec{Backend: b, m: merged[lun], slowFor: 1500 * time.Millisecond, slowShift: 51}
		case 3: // one write in ~256
			return &linVec{Backend: b, m: merged[lun], slowFor: 3 * time.Second, slowShift: 56, slowWrites: true}
		}
		return b
	})
	addr := svc.Addrs()[0]
	for _, lun := range []uint64{0, 1, 2, 3} {
		t.Run(fmt.Sprintf("lun%d", lun), func(t *testing.T) {
			log := &linLog{}
			log.gen.Store(1)
			var failMu sync.Mutex
			var fails []string
			fail := func(f string, a ...any) {
				failMu.Lock()
				if len(fails) < 20 {
					fails = append(fails, fmt.Sprintf(f, a...))
				}
				failMu.Unlock()
			}
			var sess []*linSession
			for i := range 2 {
				s := dial(t, addr, initiator.Options{ISID: isid(900 + int(lun)*2 + i), Timeout: 5 * time.Second})
				ready(t, s, lun)
				sess = append(sess, &linSession{t: t, id: i, s: s, lun: lun, log: log,
					rng: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(i))), sem: make(chan struct{}, linDepth),
					last: map[uint64][]byte{}, live: map[uint32]*linOp{}, abort: map[uint32]int64{}, fail: fail,
					abortEvery: 150, oldest: lun == 3})
				if lun == 3 {
					sess[i].abortEvery, sess[i].slowOK = 40, true
				}
			}
			// The region starts as generation 1 everywhere.
			init := make([]byte, linRegion*linBlock)
			for i := range uint64(linRegion) {
				linEncode(init[i*linBlock:], linBase+i, 1)
			}
			if err := sess[0].s.Write(lun, linBase, init, linBlock, false); err != nil {
				t.Fatalf("initial write: %v", err)
			}
			o0 := &linOp{kind: "initial", lba: linBase, n: linRegion, gen: 1, write: true, acked: true, ended: true, sess: -1}
			o0.s, o0.e = log.tick(), log.tick()
			log.add(o0)
			end := time.Now().Add(d)
			var wg sync.WaitGroup
			for _, ls := range sess {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for time.Now().Before(end) {
						ls.one()
					}
					ls.wg.Wait()
				}()
			}
			wg.Wait()
			var summary []string
			log.stats.Range(func(k, v any) bool {
				summary = append(summary, fmt.Sprintf("%s: %d", k, v.(*atomic.Int64).Load()))
				return true
			})
			t.Logf("%d commands; outcomes:\n  %v", len(log.ops), summary)
			for _, f := range fails {
				t.Error(f)
			}
			for _, b := range linCheck(log.ops, 20) {
				t.Error(b)
			}
			if m := merged[lun]; m != nil {
				// The bursts must have met the merging: otherwise this covered less
				// than it says.
				t.Logf("merged calls: %d reads (%d parts), %d writes (%d parts); %d slow calls", m.reads.Load(),
					m.readParts.Load(), m.writes.Load(), m.writeParts.Load(), m.slow.Load())
				if m.reads.Load() == 0 || m.writes.Load() == 0 {
					t.Error("no merged vectored read or write happened")
				}
			}
		})
	}
}
