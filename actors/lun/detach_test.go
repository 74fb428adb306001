package lun

import (
	"bytes"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/scsi"
)

// TestAbortSeesIOHandedToIdleWorker: a large IO goes straight to an idle worker's
// mailbox; an ABORT TASK that the LUN handles before the worker took it still
// detaches it once its call hangs past the grace (found by a review: the function
// looked only at the workers' current calls and queues, so with no ioTimeout the
// task was never detached and the function never answered by the connection).
func TestAbortSeesIOHandedToIdleWorker(t *testing.T) {
	for round := 0; round < 3; round++ {
		b := newHoldBackend(t)
		h := newLUNHarness(t, b) // no ioTimeout: only the detach can end the call
		b.hold("read", 0)
		proc, _ := h.sys.ProcessRegistry.Get(h.lun)
		// The IO and the function reach the LUN in one turn, before the worker runs.
		proc.SendSystemMessage(h.lun, &actor.SuspendMailbox{})
		h.send(h.readLarge(1, 0))
		h.sys.Root.Send(h.lun, &pb.TaskManagement{Function: pb.TmfFunction_TMF_FUNCTION_ABORT_TASK, Itt: 100,
			Target: "t", ReplyTo: pb.NewPid(h.conn), ReferencedItt: 1, FanOut: 1})
		proc.SendSystemMessage(h.lun, &actor.ResumeMailbox{})
		<-h.tmfs
		select {
		case <-h.done:
		case <-time.After(tmfGrace + time.Second):
			t.Fatalf("round %d: the aborted task was never detached", round)
		}
		h.sys.Shutdown()
	}
}

// TestRetiredLUNDetachesAbortedTask: a LUN retired by force while a call hangs
// answers an ABORT TASK as a LUN that is gone, and still detaches the task, so that
// neither the connection (which waits for the aborted task) nor the retirement
// waits for the call (found by a review).
func TestRetiredLUNDetachesAbortedTask(t *testing.T) {
	b := newHoldBackend(t)
	h := newLUNHarness(t, b) // no ioTimeout
	b.hold("read", 0)
	h.send(h.read(1, 0))
	b.waitHeld(t, "read@0")
	retired := make(chan RetireResult, 1)
	h.sys.Root.Send(h.lun, &Retire{Force: true, Done: func(r RetireResult) { retired <- r }})
	h.sys.Root.Send(h.lun, &pb.TaskManagement{Function: pb.TmfFunction_TMF_FUNCTION_ABORT_TASK, Itt: 100,
		Target: "t", ReplyTo: pb.NewPid(h.conn), ReferencedItt: 1, FanOut: 1})
	<-h.tmfs
	select {
	case <-h.done:
	case <-time.After(tmfGrace + time.Second):
		t.Fatal("the retired LUN never detached the aborted task")
	}
	select {
	case <-retired:
	case <-time.After(2 * time.Second):
		t.Fatal("the retirement did not end once the task was detached")
	}
}

// TestNexusLossEndsItsTasks: when a connection's I_T nexus ends (a dropped
// connection, or a session reinstated by a new login with the same ISID), its
// waiting tasks never run and its write in a backend call is fenced, so a write
// through the new connection to the same blocks lands after it and stays.
func TestNexusLossEndsItsTasks(t *testing.T) {
	b := newHoldBackend(t)
	h := newLUNHarness(t, b, func(c *Config) { c.Workers = 2 })
	b2, newConn := h.newConnection()
	release := b.hold("write", 0)
	h.send(h.task(1, write10(0, 8, false), bytes.Repeat([]byte{0x11}, 4096)))
	b.waitHeld(t, "write@0")
	b.hold("read", 65536) // a read of the lost nexus in the other worker: left to finish
	h.send(h.read(4, 128))
	b.waitHeld(t, "read@65536")
	h.send(h.task(2, write10(8, 8, false), bytes.Repeat([]byte{0x12}, 4096))) // waits for a worker
	h.sys.Root.Send(h.lun, &pb.NexusLoss{Target: "t", Nexus: "n1", ReplyTo: pb.NewPid(h.conn)})
	// The reinstated session's connection: same nexus, so its first command meets
	// the POWER ON unit attention of a nexus that comes back.
	tur := h.task(5, make([]byte, 6), nil)
	tur.ReplyTo = pb.NewPid(b2)
	h.send(tur)
	if c := <-newConn; c.Status != uint32(scsi.StatusCheckCondition) || len(c.Sense) < 13 || c.Sense[12] != 0x29 {
		t.Fatalf("the new connection's first command: status %#x sense %x, want the POWER ON unit attention", c.Status, c.Sense)
	}
	checkFencedWrite(t, h, b, b2, newConn, release, "lost nexus's")
}

// newConnection spawns a stand-in for an initiator's new connection to the LUN: the
// completions sent to its PID arrive on the channel.
func (h *lunHarness) newConnection() (*actor.PID, chan *pb.ScsiCompletion) {
	ch := make(chan *pb.ScsiCompletion, 16)
	pid := h.sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if m, ok := ctx.Message().(*pb.ScsiCompletion); ok {
			ch <- m
		}
	}))
	return pid, ch
}

// checkFencedWrite: with the ended tasks' WRITE of blocks 0-7 still held in the
// backend (release lets it return) and their WRITE of blocks 8-15 never started, the
// new connection's WRITE of blocks 0-7 waits for the held one, then lands over it, and
// blocks 8-15 stay zero. ended names whose tasks ended, for the messages.
func checkFencedWrite(t *testing.T, h *lunHarness, b *holdBackend, conn *actor.PID, answers chan *pb.ScsiCompletion, release func(), ended string) {
	t.Helper()
	w := h.task(3, write10(0, 8, false), bytes.Repeat([]byte{0x33}, 4096))
	w.ReplyTo = pb.NewPid(conn)
	h.send(w)
	select {
	case c := <-answers:
		t.Fatalf("the new connection's WRITE answered (status %#x) while the %s write was in the backend", c.Status, ended)
	case <-time.After(300 * time.Millisecond):
	}
	release()
	select {
	case c := <-answers:
		if c.Status != uint32(scsi.StatusGood) {
			t.Fatalf("the new connection's WRITE: status %#x", c.Status)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the new connection's WRITE was never answered")
	}
	data := make([]byte, 8192)
	if _, err := b.Backend.ReadAt(data, 0); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data[:4096], bytes.Repeat([]byte{0x33}, 4096)) {
		t.Fatalf("blocks 0-7 hold %x..., want the new connection's 33s", data[:4])
	}
	if !bytes.Equal(data[4096:], make([]byte, 4096)) {
		t.Fatalf("blocks 8-15 hold %x...: the %s waiting WRITE ran", data[4096:4100], ended)
	}
}
