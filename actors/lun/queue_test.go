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
