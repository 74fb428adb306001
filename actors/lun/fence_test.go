package lun

import (
	"bytes"
	"testing"
	"time"

	"github.com/atgt/atgt/messages/scsi"
)

// TestFenceHoldsBackQueuedWrite: a WRITE admitted before an overlapping WRITE is
// abandoned, and still waiting for the only worker when its fence goes up, waits
// behind the fence: it runs only after the abandoned call has landed, so the
// acknowledged data is its own (found by a review: it used to run on the
// replacement worker, be acknowledged, and be overwritten by the late call).
func TestFenceHoldsBackQueuedWrite(t *testing.T) {
	b := newHoldBackend(t)
	h := newLUNHarness(t, b, func(c *Config) { c.Workers, c.IOTimeout = 1, 200*time.Millisecond })
	release := b.hold("write", 0)
	h.send(h.task(1, write10(0, 8, false), bytes.Repeat([]byte{0x11}, 4096)))
	b.waitHeld(t, "write@0")
	h.send(h.task(2, write10(4, 8, false), bytes.Repeat([]byte{0x22}, 4096))) // overlaps; queued
	got := h.wait(1)
	if c := got[1]; c == nil || c.Status != uint32(scsi.StatusCheckCondition) {
		t.Fatalf("the abandoned WRITE was answered %+v, want CHECK CONDITION", got)
	}
	select {
	case c := <-h.done:
		t.Fatalf("task %d answered (status %#x) while the abandoned call it overlaps was still in the backend", c.Itt, c.Status)
	case <-time.After(300 * time.Millisecond):
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
	if !bytes.Equal(data[:2048], bytes.Repeat([]byte{0x11}, 2048)) || !bytes.Equal(data[2048:], bytes.Repeat([]byte{0x22}, 4096)) {
		t.Fatalf("medium %x...%x: want the late call's 11s before LBA 4 and the acknowledged 22s from it", data[:4], data[2048:2052])
	}
}
