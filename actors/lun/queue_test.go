package lun

import (
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
