package inprocess

import (
	"bytes"
	"testing"

	"github.com/atgt/atgt/messages/iscsi"
	"github.com/atgt/atgt/tests/initiator"
)

// TestCmdSNHole: a command lost on the way leaves a hole in the CmdSN sequence, and
// the target holds every later command behind it. A WRITE held there and aborted
// never runs, even once the hole is filled (its data never reaches the LUN); and an
// ABORT TASK naming the lost command's CmdSN (RefCmdSN) fills the hole, so the
// session goes on (RFC 7143 11.5.1 b). Through the real session actor.
func TestCmdSNHole(t *testing.T) {
	svc := start(t, baseConfig(t), nil)
	s := dial(t, svc.Addrs()[0], initiator.Options{ISID: isid(1300)})
	ready(t, s, 0)
	const lba = 8192
	before, err := s.Read(0, lba, 8, blockSize)
	if err != nil {
		t.Fatalf("read: %v", err)
	}

	const lostITT, heldITT = 0x7100_0001, 0x7100_0002
	lost := s.SkipCmdSN()
	held := randomData(1300, 8*blockSize)
	if err := s.SendNumberedPDU(rawWrite16(heldITT, 0, lba, held)); err != nil {
		t.Fatalf("send: %v", err)
	}
	if resp, err := s.TaskMgmt(iscsi.TMFAbortTask, 0, heldITT); err != nil || resp != iscsi.TMFRespComplete {
		t.Fatalf("ABORT TASK of the held WRITE: response %d, %v; want Function complete", resp, err)
	}
	if resp, err := s.TaskMgmtRef(iscsi.TMFAbortTask, 0, lostITT, lost); err != nil || resp != iscsi.TMFRespComplete {
		t.Fatalf("ABORT TASK of the lost CmdSN: response %d, %v; want Function complete", resp, err)
	}
	// The hole is filled: commands in CmdSN order run again, and the aborted WRITE
	// did not.
	if err := s.Nop([]byte("after the hole")); err != nil {
		t.Fatalf("nop: %v", err)
	}
	got, err := s.Read(0, lba, 8, blockSize)
	if err != nil {
		t.Fatalf("read after the hole: %v", err)
	}
	if bytes.Equal(got, held) || !bytes.Equal(got, before) {
		t.Fatalf("the aborted WRITE changed the LUN")
	}
	w := randomData(1301, 8*blockSize)
	if err := s.Write(0, lba, w, blockSize, false); err != nil {
		t.Fatalf("write after the hole: %v", err)
	}
	mustReadBack(t, s, 0, lba, w)
}
