package lun

import (
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/atgt/atgt/backend"
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/scsi"
)

// answersSeen records, at each backend read, how many answers the harness's
// connection had received by then.
type answersSeen struct {
	backend.Backend
	h    *lunHarness
	mu   sync.Mutex
	seen []int
}

func (a *answersSeen) ReadAt(p []byte, off int64) (int, error) {
	a.mu.Lock()
	a.seen = append(a.seen, len(a.h.done))
	a.mu.Unlock()
	return a.Backend.ReadAt(p, off)
}

// TestWorkerYieldsWhileDrainingReads: a worker draining a deep queue of large
// reads lets the connection run after every yieldAfterRead bytes, so that the data
// goes out while it is still in the CPU's cache, instead of reading the whole queue
// first. With one P (atgtd runs Go code on half the CPUs; on 2 CPUs that is one)
// nothing else runs between the reads of a worker that never blocks: here the
// connection received no answer before the last of 48 reads without the yield
// (qemu-img's 128 KiB reads at depth 32 were 25% slower for it).
//
// A yield does not always let the connection run: Go's scheduler takes the global
// run queue first on every 61st schedule (runtime.schedule's schedtick%61), and
// Gosched put the worker there, so about one yield in 61 returns at once (the
// first form of this test, which looked only after the first yield, failed 2 runs
// in 300). Three yields before the last read all miss about once in 200,000 runs.
func TestWorkerYieldsWhileDrainingReads(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	b := &answersSeen{Backend: backend.NewMemory(2048 * 512)}
	h := newLUNHarness(t, b, func(c *Config) { c.Workers = 1 })
	b.h = h
	const n, blocks = 48, 128 // 64 KiB reads: a yield every 12
	burst := make([]*pb.ScsiTask, 0, n)
	for i := range n {
		burst = append(burst, h.task(uint32(i+1), read10(uint32(i%16*blocks), blocks), nil))
	}
	h.burst(burst...)
	// The answers stay in the connection's channel until every read is done
	// (wait would take them as they come).
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		b.mu.Lock()
		done := len(b.seen) == n
		b.mu.Unlock()
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d reads reached the backend", len(b.seen), n)
		}
	}
	got := h.wait(n)
	for itt, c := range got {
		if c.Status != uint32(scsi.StatusGood) {
			t.Fatalf("READ %d: status %#x", itt, c.Status)
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.seen) != n {
		t.Fatalf("%d backend reads, want %d (one per READ: 64 KiB reads are not merged)", len(b.seen), n)
	}
	// The first read is handed to the idle worker, the other 47 wait in the queue;
	// the worker yields after the 12th, 24th and 36th of those, so the last read
	// finds answers sent.
	if b.seen[n-1] == 0 {
		t.Fatalf("answers received at each read: %v; the connection got none before the worker's last read (no yield after %d KiB)", b.seen, yieldAfterRead>>10)
	}
}
