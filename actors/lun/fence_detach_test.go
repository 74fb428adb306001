package lun

import (
	"bytes"
	"testing"
	"time"

	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/scsi"
)

// TestDetachFencesQueuedWrite is TestFenceHoldsBackQueuedWrite for the task
// management path: a WRITE hung in one worker is aborted (ABORT TASK, detached
// after the grace), while an overlapping WRITE admitted before waits in the workers'
// queue. The queued WRITE must wait behind the abandoned call's fence; if it runs on
// the replacement worker at once, it is acknowledged and then overwritten when the
// aborted call lands (review of the data path: detach takes the queue before the
// fence goes up and then gives what it kept to the workers without looking at it).
func TestDetachFencesQueuedWrite(t *testing.T) {
	b := newHoldBackend(t)
	h := newLUNHarness(t, b, func(c *Config) { c.Workers = 2 })
	release := b.hold("write", 0)
	h.send(h.task(1, write10(0, 8, false), bytes.Repeat([]byte{0x11}, 4096)))
	b.waitHeld(t, "write@0")
	// The other worker is busy with a slow read elsewhere, so WRITE 2 queues.
	releaseRead := b.hold("read", 512*1024)
	defer releaseRead()
	h.send(h.read(3, 1024))
	b.waitHeld(t, "read@524288")
	h.send(h.task(2, write10(4, 8, false), bytes.Repeat([]byte{0x22}, 4096))) // overlaps; queued
	h.sys.Root.Send(h.lun, &pb.TaskManagement{Function: pb.TmfFunction_TMF_FUNCTION_ABORT_TASK, Itt: 100, Target: "t",
		ReplyTo: pb.NewPid(h.conn), ReferencedItt: 1, FanOut: 1})
	select {
	case <-h.tmfs:
	case <-time.After(time.Second):
		t.Fatal("ABORT TASK not answered")
	}
	got := h.wait(1) // the aborted task, detached after the grace
	if c := got[1]; c == nil {
		t.Fatalf("got %+v, want the aborted task 1 ended", got)
	}
	select {
	case c := <-h.done:
		// The bug: WRITE 2 ran on the replacement worker while the aborted call
		// is still in the backend.
		release()
		time.Sleep(100 * time.Millisecond)
		data := make([]byte, 6144)
		if _, err := b.Backend.ReadAt(data, 0); err != nil {
			t.Fatal(err)
		}
		t.Fatalf("task %d answered status %#x sense %x while the aborted call it overlaps was still in the backend; after that call "+
			"landed the medium at LBA 4 holds %x (the acknowledged WRITE 2 wrote 22s)", c.Itt, c.Status, c.Sense, data[2048:2052])
	case <-time.After(500 * time.Millisecond):
	}
	release()
	got = h.wait(1)
	if c := got[2]; c == nil || c.Status != uint32(scsi.StatusGood) {
		t.Fatalf("WRITE 2 answered %+v, want GOOD", got)
	}
	data := make([]byte, 6144)
	if _, err := b.Backend.ReadAt(data, 0); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data[2048:], bytes.Repeat([]byte{0x22}, 4096)) {
		t.Fatalf("medium at LBA 4 %x: want the acknowledged 22s", data[2048:2052])
	}
}
