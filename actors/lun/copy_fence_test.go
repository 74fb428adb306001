package lun

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/atgt/atgt/backend"
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/scsi"
)

// holdOnce removes the hold at key for later calls, leaving the call already held
// waiting on its channel.
func holdOnce(b *holdBackend, key string) (release func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ch := b.holds[key]
	delete(b.holds, key)
	var once sync.Once
	return func() { once.Do(func() { close(ch) }) }
}

// TestCopyNexusLossFencesPeerWrite (xcopy review F1): a connection
// reinstatement (or any I_T nexus loss) ends the old connection's EXTENDED COPY
// at A while the copy's WRITE(16) to B is inside B's backend call. The copy ends
// at A only once that WRITE is fenced at B: the new connection's WRITE to the same
// blocks of B waits for the old call, and B ends with the new data (as for a plain
// WRITE: TestConnectionOnlyLossKeepsNexus).
func TestCopyNexusLossFencesPeerWrite(t *testing.T) {
	ma, hb := backend.NewMemory(1<<20), newHoldBackend(t)
	a, b := copyPair(t, ma, hb)
	fill(t, ma, 0, 4096, 0xA1)
	hb.hold("write", 0)
	a.send(xcopyTask(a, 1, seg(0, 1, 8, 0, 0)))
	hb.waitHeld(t, "write@0")
	release := holdOnce(hb, "write@0") // later writes at 0 pass; the held one waits for release
	defer release()
	for _, h := range []*lunHarness{a, b} {
		h.sys.Root.Send(h.lun, &pb.NexusLoss{Target: "t", Nexus: "n1", ReplyTo: pb.NewPid(a.conn), ConnectionOnly: true})
	}
	a.wait(1) // the ended copy (suppressed by the connection)
	conn, answers := b.newConnection()
	w := b.task(3, write10(0, 8, false), bytes.Repeat([]byte{0x33}, 4096))
	w.ReplyTo = pb.NewPid(conn)
	b.send(w)
	select {
	case c := <-answers:
		t.Fatalf("the new connection's WRITE to B answered (status %#x) while the ended copy's WRITE was in B's backend", c.Status)
	case <-time.After(300 * time.Millisecond):
	}
	release()
	select {
	case c := <-answers:
		if c.Status != uint32(scsi.StatusGood) {
			t.Fatalf("status %#x", c.Status)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("never answered")
	}
	if got := readBack(t, hb.Backend, 0, 4096); !bytes.Equal(got, bytes.Repeat([]byte{0x33}, 4096)) {
		t.Fatalf("B holds %x..., want the new connection's 33s", got[:4])
	}
}

// TestCopyAbortAnsweredAfterPeerFence (xcopy review F1, ABORT TASK): A's grace
// (min(2 s, A's ioTimeout)) may end before B's; A still ends the aborted copy only
// once the copy's WRITE in B's backend is fenced, so a WRITE the initiator sends to
// those blocks of B after the function completed waits for that call.
func TestCopyAbortAnsweredAfterPeerFence(t *testing.T) {
	ma, hb := backend.NewMemory(1<<20), newHoldBackend(t)
	a, b := copyPairWith(t, ma, hb, []func(*Config){func(c *Config) { c.IOTimeout = 200 * time.Millisecond }}, nil)
	fill(t, ma, 0, 4096, 0xA1)
	hb.hold("write", 0)
	a.send(xcopyTask(a, 1, seg(0, 1, 8, 0, 0)))
	hb.waitHeld(t, "write@0")
	release := holdOnce(hb, "write@0")
	defer release()
	abortTask(a, 1)
	<-a.tmfs
	a.wait(1) // the aborted copy ended at A: the connection now answers the function
	conn, answers := b.newConnection()
	w := b.task(3, write10(0, 8, false), bytes.Repeat([]byte{0x33}, 4096))
	w.ReplyTo = pb.NewPid(conn)
	b.send(w)
	select {
	case c := <-answers:
		t.Fatalf("WRITE to B after the copy's ABORT TASK completed answered (status %#x) while the copy's WRITE "+
			"was unfenced in B's backend", c.Status)
	case <-time.After(300 * time.Millisecond):
	}
	release()
	select {
	case c := <-answers:
		if c.Status != uint32(scsi.StatusGood) {
			t.Fatalf("status %#x", c.Status)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("never answered")
	}
	if got := readBack(t, hb.Backend, 0, 4096); !bytes.Equal(got, bytes.Repeat([]byte{0x33}, 4096)) {
		t.Fatalf("B holds %x..., want the WRITE's 33s", got[:4])
	}
}
