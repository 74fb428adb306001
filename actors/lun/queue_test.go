package lun

import (
	"sync"
	"sync/atomic"
	"testing"

	pb "github.com/atgt/atgt/messages/atgtv1"
)

// TestTakeClearsSlot: an IO taken from the shared queue is no longer referenced by
// the ring, so that its task and data can be collected once it ends.
func TestTakeClearsSlot(t *testing.T) {
	q := &workQueue{}
	for i := range 3 {
		if !q.put(&pb.IoRequest{Offset: int64(i)}) {
			t.Fatal("put refused")
		}
	}
	for i := range 3 {
		if io := q.take(); io == nil || io.Offset != int64(i) {
			t.Fatalf("take %d: %v", i, io)
		}
	}
	for i := range queueSize {
		if q.buf[i].Load() != nil {
			t.Fatalf("slot %d still holds a taken IO", i)
		}
	}
}

// TestEachSeesNoTakenSlot: while workers take IO (and clear its slot), the LUN's
// each never hands its function a cleared slot (a nil IO: the LUN actor would
// panic on it during task management).
func TestEachSeesNoTakenSlot(t *testing.T) {
	q := &workQueue{}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
				q.take()
			}
		}
	}()
	defer func() { close(stop); <-done }()
	io := &pb.IoRequest{}
	for range 5000 {
		for q.put(io) {
		}
		q.each(func(got *pb.IoRequest) {
			if got == nil {
				t.Fatal("each passed a slot a worker had taken and cleared")
			}
		})
	}
}

// TestScanSeesEveryUnfinishedIO: while workers take IO from the queue and perform
// it, the LUN's scan (eachIO, what task management aborts from) finds every IO that
// has not finished. An IO a worker had taken but not yet published was invisible to
// it: an ABORT TASK or a reset then missed a task that went on running.
func TestScanSeesEveryUnfinishedIO(t *testing.T) {
	const workers, ios = 2, 20000
	p := &pool{sh: &shared{}, slots: make([]*slot, workers)}
	finished := make([]atomic.Bool, ios)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range p.slots {
		s := &slot{index: i}
		p.slots[i] = s
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				io := p.sh.q.takeFor(s)
				if io == nil {
					continue
				}
				s.begin(io, 0)
				finished[io.Offset].Store(true) // the answer is sent before cur is cleared
				s.cur.CompareAndSwap(io, nil)
			}
		}()
	}
	defer func() { close(stop); wg.Wait() }()
	var missed int
	for i := range ios {
		io := &pb.IoRequest{Offset: int64(i)}
		for !p.sh.q.put(io) {
		}
		for !finished[i].Load() {
			seen := false
			p.eachIO(func(got *pb.IoRequest) { seen = seen || got == io })
			if !seen && !finished[i].Load() {
				missed++
				break
			}
		}
	}
	if missed > 0 {
		t.Fatalf("the scan missed %d of %d IOs that had not finished", missed, ios)
	}
}
