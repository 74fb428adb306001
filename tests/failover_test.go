package tests

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/atgt/atgt/tests/initiator"
)

// Checksummed blocks: magic, LBA, sequence number, a pattern drawn from both, and a
// CRC-32 of the rest, so that a block read back tells which write it holds and
// whether it is intact.
const (
	fovMagic   = "ATGTFOV1"
	fovWriters = 4
	fovSpan    = 128 // blocks per writer
)

// fovBlock is the content of write seq at lba.
func fovBlock(lba, seq uint64) []byte {
	b := make([]byte, gwBlock)
	copy(b, fovMagic)
	binary.BigEndian.PutUint64(b[8:], lba)
	binary.BigEndian.PutUint64(b[16:], seq)
	x := lba*0x9E3779B97F4A7C15 ^ seq
	for i := 24; i < gwBlock-4; i++ {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = byte(x)
	}
	binary.BigEndian.PutUint32(b[gwBlock-4:], crc32.ChecksumIEEE(b[:gwBlock-4]))
	return b
}

// fovCheck returns the sequence number a block read back holds, or an error if it is
// not an intact block of lba.
func fovCheck(b []byte, lba uint64) (uint64, error) {
	if string(b[:8]) != fovMagic {
		return 0, fmt.Errorf("LBA %d: no block written (%q)", lba, b[:8])
	}
	if crc32.ChecksumIEEE(b[:gwBlock-4]) != binary.BigEndian.Uint32(b[gwBlock-4:]) {
		return 0, fmt.Errorf("LBA %d: checksum mismatch", lba)
	}
	if got := binary.BigEndian.Uint64(b[8:]); got != lba {
		return 0, fmt.Errorf("LBA %d holds the block of LBA %d", lba, got)
	}
	seq := binary.BigEndian.Uint64(b[16:])
	if !bytes.Equal(b, fovBlock(lba, seq)) {
		return 0, fmt.Errorf("LBA %d: block %d altered", lba, seq)
	}
	return seq, nil
}

// fovLoad writes checksummed blocks through a Failover initiator from fovWriters
// goroutines, each over its own LBAs, and remembers each LBA's last acknowledged
// write.
type fovLoad struct {
	f     *initiator.Failover
	acked [fovWriters * fovSpan]atomic.Uint64 // sequence numbers; 0 = none
	count atomic.Int64
	// lastAck is when the latest write was acknowledged (UnixNano).
	lastAck atomic.Int64
	// killed is when the node in use was killed (UnixNano, 0: not yet); resumed
	// when the first write was acknowledged after it.
	killed, resumed atomic.Int64
	stop            chan struct{}
	wg              sync.WaitGroup
	errs            chan error
	seq             atomic.Uint64
}

func startLoad(f *initiator.Failover) *fovLoad {
	l := &fovLoad{f: f, stop: make(chan struct{}), errs: make(chan error, fovWriters)}
	for w := range fovWriters {
		l.wg.Add(1)
		go l.writer(w)
	}
	return l
}

func (l *fovLoad) writer(w int) {
	defer l.wg.Done()
	for i := 0; ; i++ {
		select {
		case <-l.stop:
			return
		default:
		}
		lba := uint64(w*fovSpan + i%fovSpan)
		seq := l.seq.Add(1)
		// FUA: an acknowledged write is on the store, whatever happens to the node.
		if err := fovWrite(l.f, lba, fovBlock(lba, seq)); err != nil {
			l.errs <- fmt.Errorf("writer %d, LBA %d, write %d: %w", w, lba, seq, err)
			return
		}
		l.acked[lba].Store(seq)
		l.count.Add(1)
		now := time.Now().UnixNano()
		l.lastAck.Store(now)
		if k := l.killed.Load(); k != 0 && now > k {
			l.resumed.CompareAndSwap(0, now)
		}
	}
}

// fovWrite writes one block with WRITE(16), FUA.
func fovWrite(f *initiator.Failover, lba uint64, b []byte) error {
	cdb := make([]byte, 16)
	cdb[0], cdb[1] = 0x8A, 0x08
	binary.BigEndian.PutUint64(cdb[2:], lba)
	binary.BigEndian.PutUint32(cdb[10:], 1)
	_, err := f.Command(uint64(testLUN), cdb, b, 0)
	return err
}

// end stops the writers and returns the first error.
func (l *fovLoad) end() error {
	close(l.stop)
	l.wg.Wait()
	select {
	case err := <-l.errs:
		return err
	default:
		return nil
	}
}

// verify reads every LBA through f and checks that it holds its last acknowledged
// write, intact.
func (l *fovLoad) verify(t *testing.T, f *initiator.Failover, via string) {
	t.Helper()
	cdb := make([]byte, 16)
	cdb[0] = 0x88
	n := uint32(fovSpan)
	binary.BigEndian.PutUint32(cdb[10:], n)
	bad := 0
	for w := range fovWriters {
		binary.BigEndian.PutUint64(cdb[2:], uint64(w*fovSpan))
		r, err := f.Command(uint64(testLUN), cdb, nil, n*gwBlock)
		if err != nil {
			t.Fatalf("read back through %s: %v", via, err)
		}
		for i := range fovSpan {
			lba := uint64(w*fovSpan + i)
			want := l.acked[lba].Load()
			if want == 0 {
				continue
			}
			got, err := fovCheck(r.Data[i*gwBlock:(i+1)*gwBlock], lba)
			if err == nil && got != want {
				err = fmt.Errorf("LBA %d holds write %d, but write %d was acknowledged after it", lba, got, want)
			}
			if err != nil {
				bad++
				if bad < 10 {
					t.Errorf("through %s: %v", via, err)
				}
			}
		}
	}
	if bad > 0 {
		t.Fatalf("through %s: %d blocks lost or damaged", via, bad)
	}
}

// kill ends node d with SIGKILL, as a crash would.
func (d *daemon) kill(t *testing.T) time.Time {
	t.Helper()
	d.stopped = true
	at := time.Now()
	if err := d.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-d.done
	return at
}

// runFailover is the kill-a-gateway test on gateways g: checksummed FUA writes
// through node A; A is killed with SIGKILL; writes go on through B within bound;
// every acknowledged write reads back intact through B; A is restarted, the
// initiator fails back to it, writes go on, and everything reads back through A.
// check, if not nil, is called after the failover ("failover") and after the fail
// back ("failback"). It returns how long writes stalled across the kill.
func runFailover(t *testing.T, g *gateways, bound time.Duration, check func(phase string)) time.Duration {
	a := g.start(t, 0)
	g.start(t, 1)
	f, err := initiator.DialFailover(g.portals[:], initiator.Options{InitiatorName: gwInitiator, TargetName: defaultIQN,
		ISID: [6]byte{0x80, 0xf0, 0, 0, 0, 1}, Timeout: bound}, 2*bound)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	load := startLoad(f)
	time.Sleep(2 * time.Second)
	before := load.count.Load()
	if before == 0 {
		t.Fatalf("no write acknowledged through A in 2 s: %v", load.end())
	}
	killed := a.kill(t)
	// From the moment A is gone: no answer from it can come after this.
	load.killed.Store(time.Now().UnixNano())
	// Writes go on through B: wait for some acknowledged after the kill.
	deadline := killed.Add(2 * bound)
	var resumed time.Time
	for time.Now().Before(deadline) {
		if at := load.lastAck.Load(); at > killed.UnixNano() && load.count.Load() > before+int64(4*fovWriters) {
			resumed = time.Unix(0, at)
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if resumed.IsZero() {
		t.Fatalf("no write acknowledged through B within %v of the kill: %v", 2*bound, load.end())
	}
	// The first write acknowledged after the kill ends the stall.
	stall := time.Duration(load.resumed.Load() - load.killed.Load())
	time.Sleep(time.Second)
	if err := load.end(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d writes acknowledged before the kill, %d in all; switches %+v; first write acknowledged %v after the kill",
		before, load.count.Load(), f.Switches(), stall)
	if stall > bound {
		t.Errorf("writes stalled %v across the kill, over the bound %v", stall, bound)
	}
	if f.Portal() != g.portals[1] {
		t.Fatalf("after the kill the initiator uses %s", f.Portal())
	}
	load.verify(t, f, "B after the kill")
	if check != nil {
		check("failover")
	}

	// Fail back: A again, writes through it, everything read back through A.
	g.start(t, 0)
	if err := f.SwitchTo(0); err != nil {
		t.Fatal(err)
	}
	back := startLoad(f)
	for i := range back.acked {
		back.acked[i].Store(load.acked[i].Load())
	}
	back.seq.Store(load.seq.Load())
	time.Sleep(2 * time.Second)
	if err := back.end(); err != nil {
		t.Fatal(err)
	}
	if f.Portal() != g.portals[0] || back.count.Load() == 0 {
		t.Fatalf("fail back: portal %s, %d writes", f.Portal(), back.count.Load())
	}
	back.verify(t, f, "A after the fail back")
	t.Logf("fail back: %d writes through A", back.count.Load())
	if check != nil {
		check("failback")
	}
	return stall
}

// TestGatewayFailoverSharedFile: the kill-a-gateway test on a file both nodes serve
// (static ALUA states, no lock): what the initiator's failover path and the nodes
// must do, without Ceph; the RBD version is TestGatewayFailoverRBD.
func TestGatewayFailoverSharedFile(t *testing.T) {
	g := newGateways(t, sharedFileLUN(t, 16<<20))
	stall := runFailover(t, g, 10*time.Second, nil)
	t.Logf("failover: writes resumed through B %v after SIGKILL of A", stall)
}
