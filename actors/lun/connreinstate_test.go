package lun

import (
	"bytes"
	"testing"

	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/scsi"
)

// TestConnectionOnlyLossKeepsNexus: a connection reinstatement (RFC 7143 6.3.4) ends
// the old connection's tasks as a closed connection does (at ErrorRecoveryLevel 0
// they are terminated without notice: the waiting WRITE never runs, the one in a
// backend call is fenced so that the new connection's WRITE to the same blocks lands
// after it), but the I_T nexus goes on: RFC 7143 6.3.5.1 reports an I_T nexus loss
// only for session reinstatement, closure and timeout, so the nexus keeps its state
// and the new connection's first command meets no POWER ON unit attention (a nexus
// that was lost would: TestNexusLossEndsItsTasks).
func TestConnectionOnlyLossKeepsNexus(t *testing.T) {
	b := newHoldBackend(t)
	h := newLUNHarness(t, b, func(c *Config) { c.Workers = 2 })
	b2, newConn := h.newConnection()
	release := b.hold("write", 0)
	h.send(h.task(1, write10(0, 8, false), bytes.Repeat([]byte{0x11}, 4096)))
	b.waitHeld(t, "write@0")
	b.hold("read", 65536)
	h.send(h.read(4, 128))
	b.waitHeld(t, "read@65536")
	h.send(h.task(2, write10(8, 8, false), bytes.Repeat([]byte{0x12}, 4096))) // waits for a worker
	h.sys.Root.Send(h.lun, &pb.NexusLoss{Target: "t", Nexus: "n1", ReplyTo: pb.NewPid(h.conn), ConnectionOnly: true})
	// The old connection's implicit logout ("close the connection" at ERL < 2)
	// terminated its tasks: the nexus's next command reports SOME COMMANDS CLEARED
	// BY ISCSI PROTOCOL EVENT (RFC 7143 11.14), not the POWER ON of a lost nexus.
	tur := h.task(5, make([]byte, 6), nil)
	tur.ReplyTo = pb.NewPid(b2)
	h.send(tur)
	if c := <-newConn; c.Status != uint32(scsi.StatusCheckCondition) {
		t.Fatalf("the new connection's first command: status %#x, want CHECK CONDITION 6/47/7F", c.Status)
	} else if k, asc, ascq := senseOf(c.Sense); k != 6 || asc != 0x47 || ascq != 0x7F {
		t.Fatalf("the new connection's first command: sense %x/%02x/%02x, want 6/47/7F", k, asc, ascq)
	}
	tur = h.task(6, make([]byte, 6), nil)
	tur.ReplyTo = pb.NewPid(b2)
	h.send(tur)
	if c := <-newConn; c.Status != uint32(scsi.StatusGood) {
		t.Fatalf("the new connection's second command: status %#x sense %x, want GOOD (the nexus was not lost)", c.Status, c.Sense)
	}
	checkFencedWrite(t, h, b, b2, newConn, release, "old connection's")
}

// TestConnectionOnlyLossWithoutTasks: a reinstated connection that had no task at
// this logical unit leaves nothing to report here: the nexus's next command is GOOD.
func TestConnectionOnlyLossWithoutTasks(t *testing.T) {
	h := newLUNHarness(t, newHoldBackend(t), func(c *Config) { c.Workers = 2 })
	h.send(h.task(1, make([]byte, 6), nil))
	if c := h.wait(1)[1]; c.Status != uint32(scsi.StatusGood) {
		t.Fatalf("TEST UNIT READY before: status %#x sense %x", c.Status, c.Sense)
	}
	h.sys.Root.Send(h.lun, &pb.NexusLoss{Target: "t", Nexus: "n1", ReplyTo: pb.NewPid(h.conn), ConnectionOnly: true})
	h.send(h.task(2, make([]byte, 6), nil))
	if c := h.wait(1)[2]; c.Status != uint32(scsi.StatusGood) {
		t.Fatalf("TEST UNIT READY after: status %#x sense %x, want GOOD (no task was ended)", c.Status, c.Sense)
	}
}
