package inprocess

import (
	"encoding/binary"
	"testing"

	"github.com/atgt/atgt/tests/initiator"
)

// TestLUNResetRestoresModeParameters: MODE SELECT Control page SWP=1, then a
// LOGICAL UNIT RESET. SAM-5 6.3.3: the reset returns MODE SELECT parameters to
// their saved values, or to their defaults where none were saved, so SWP is 0
// again and a WRITE succeeds.
func TestLUNResetRestoresModeParameters(t *testing.T) {
	svc := start(t, baseConfig(t), nil)
	s := dial(t, svc.Addrs()[0], initiator.Options{ISID: isid(1705)})
	ready(t, s, 0)
	pg, err := s.ModeSenseControl(0)
	if err != nil {
		t.Fatal(err)
	}
	param := append(make([]byte, 8), pg...)
	param[8] &= 0x7f
	param[8+4] |= 0x08 // SWP
	cdb := make([]byte, 10)
	cdb[0], cdb[1] = 0x55, 0x10
	binary.BigEndian.PutUint16(cdb[7:], uint16(len(param)))
	if r, err := s.Command(0, cdb, param, 0); err != nil || r.Status != 0 {
		t.Fatalf("MODE SELECT SWP=1: %v %+v", err, r)
	}
	if err := s.Write(0, 0, make([]byte, blockSize), blockSize, false); err == nil {
		t.Fatal("write with SWP=1 succeeded")
	}
	if resp, err := s.TaskMgmt(5, 0, 0); err != nil || resp != 0 {
		t.Fatalf("LOGICAL UNIT RESET: %d %v", resp, err)
	}
	ready(t, s, 0) // the reset's unit attention
	if err := s.Write(0, 0, make([]byte, blockSize), blockSize, false); err != nil {
		t.Fatalf("write after LOGICAL UNIT RESET (SWP should be back to its default 0): %v", err)
	}
}
