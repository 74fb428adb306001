package lun

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/atgt/atgt/backend"
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/scsi"
)

// TestFlushHabit drives the write-behind switch through the patterns it is meant to
// tell apart: a writer that flushes after each write or every few, one that writes
// more than the window between flushes, and one that never flushes.
func TestFlushHabit(t *testing.T) {
	var h flushHabit
	for i := 0; i < 3; i++ {
		if h.write() {
			t.Fatalf("write %d written behind before any flush", i)
		}
	}
	h.flush()
	if !h.write() {
		t.Fatal("a write after a flush that followed 3 writes is not written behind")
	}
	h.flush()
	// A flush after every write keeps it on.
	for i := 0; i < 100; i++ {
		if !h.write() {
			t.Fatalf("flush after each write: write %d not written behind", i)
		}
		h.flush()
	}
	// Exactly the window between flushes keeps it on; one more turns it off at once.
	for i := 0; i < writeBehindWindow; i++ {
		if !h.write() {
			t.Fatalf("write %d of a window-sized batch not written behind", i)
		}
	}
	if h.write() {
		t.Fatal("write past the window still written behind")
	}
	// A flush after a long batch leaves it off, until a flush follows a short one.
	for i := 0; i < 1000; i++ {
		h.write()
	}
	h.flush()
	if h.write() {
		t.Fatal("write after a flush that followed 1001 writes is written behind")
	}
	h.flush()
	if !h.write() {
		t.Fatal("write after a flush that followed one write is not written behind")
	}
	// Flushes in a row count as frequent flushing.
	var g flushHabit
	g.flush()
	g.flush()
	if !g.write() {
		t.Fatal("write after two flushes in a row is not written behind")
	}
}

// behindRecorder is a backend whose write-behind hints are recorded.
type behindRecorder struct {
	backend.Backend
	mu     sync.Mutex
	ranges [][2]int64
}

func (b *behindRecorder) StartWriteback(off, length int64) {
	b.mu.Lock()
	b.ranges = append(b.ranges, [2]int64{off, length})
	b.mu.Unlock()
}

// hints waits until n hints were recorded (they follow the answers) and returns
// them; it fails the test if more arrive within a short while.
func (b *behindRecorder) hints(t *testing.T, n int) [][2]int64 {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b.mu.Lock()
		got := slices.Clone(b.ranges)
		b.mu.Unlock()
		if len(got) > n {
			t.Fatalf("%d write-behind hints, want %d: %v", len(got), n, got)
		}
		if len(got) == n {
			time.Sleep(20 * time.Millisecond)
			b.mu.Lock()
			later := len(b.ranges)
			b.mu.Unlock()
			if later != n {
				t.Fatalf("%d write-behind hints, want %d", later, n)
			}
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d write-behind hints after 5 s, want %d: %v", len(got), n, got)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestWriteBehindFollowsFlushes: a cached WRITE is written behind (its range handed
// to the backend's StartWriteback after the answer) only while its initiator flushes
// often: not before the first SYNCHRONIZE CACHE, not for FUA writes, and no longer
// once more than writeBehindWindow cached writes pass without a flush. A merged run
// is written behind whole.
func TestWriteBehindFollowsFlushes(t *testing.T) {
	b := &behindRecorder{Backend: backend.NewMemory(1 << 20)}
	h := newLUNHarness(t, b)
	defer h.sys.Shutdown()
	block := make([]byte, 512)
	itt := uint32(1)
	do := func(cdb, data []byte) {
		t.Helper()
		h.send(h.task(itt, cdb, data))
		expectGood(t, fmt.Sprintf("task %d (%x)", itt, cdb[0]), h.wait(1)[itt])
		itt++
	}
	syncCache := []byte{scsi.OpSynchronizeCache10, 0, 0, 0, 0, 0, 0, 0, 0, 0}

	do(write10(7, 1, false), block)
	b.hints(t, 0) // no flush seen yet
	do(syncCache, nil)
	do(write10(7, 1, false), block)
	if got := b.hints(t, 1); got[0] != [2]int64{7 * 512, 512} {
		t.Fatalf("hint %v, want the write's range [3584 512]", got[0])
	}
	do(write10(8, 1, true), block) // FUA: durable already
	b.hints(t, 1)
	for i := 1; i < writeBehindWindow; i++ {
		do(write10(uint32(10+i), 1, false), block)
	}
	b.hints(t, writeBehindWindow)
	do(write10(100, 1, false), block) // one past the window without a flush
	b.hints(t, writeBehindWindow)

	// The flush after that long batch leaves it off; a second one, after no writes,
	// turns it on again. Then a burst of adjacent writes.
	do(syncCache, nil)
	do(syncCache, nil)
	tasks := make([]*pb.ScsiTask, 4)
	for i := range tasks {
		tasks[i] = h.task(itt, write10(uint32(200+i), 1, false), block)
		itt++
	}
	h.burst(tasks...)
	for _, c := range h.wait(len(tasks)) {
		expectGood(t, "burst write", c)
	}
	// One hint if the burst was merged into one run, else one per write: together
	// they cover the burst and nothing else.
	deadline := time.Now().Add(5 * time.Second)
	for {
		b.mu.Lock()
		got := slices.Clone(b.ranges[writeBehindWindow:])
		b.mu.Unlock()
		var covered int64
		for _, r := range got {
			if r[0] < 200*512 || r[0]+r[1] > 204*512 {
				t.Fatalf("hint %v outside the burst's range", r)
			}
			covered += r[1]
		}
		if covered == 4*512 {
			break
		}
		if covered > 4*512 || time.Now().After(deadline) {
			t.Fatalf("burst's hints cover %d bytes, want %d: %v", covered, 4*512, got)
		}
		time.Sleep(time.Millisecond)
	}
}
