package inprocess

import (
	"testing"

	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/tests/initiator"
)

// TestLUNRouting checks that a session's tasks reach the right LUN when it switches
// between LUNs (the session routes them itself and remembers the last route), and
// that tasks for a LUN that does not exist still get the dispatcher's answers.
func TestLUNRouting(t *testing.T) {
	cfg := baseConfig(t)
	cfg.Targets[0].Luns = append(cfg.Targets[0].Luns, &pb.Lun{Id: 3, Backend: "memory", SizeBytes: lunSize})
	svc := start(t, cfg, nil)
	s := dial(t, svc.Addrs()[0], initiator.Options{})
	ready(t, s, 0)
	ready(t, s, 3)
	for i := range 4 {
		for _, lun := range []uint64{0, 3, 3, 0} {
			data := randomData(uint64(i)<<8|lun, 4096)
			if err := s.Write(lun, uint64(i*8), data, blockSize, false); err != nil {
				t.Fatalf("write lun %d: %v", lun, err)
			}
			mustReadBack(t, s, lun, uint64(i*8), data)
		}
	}
	// Each LUN holds its own last write, not the other's.
	mustReadBack(t, s, 0, 24, randomData(3<<8|0, 4096))
	mustReadBack(t, s, 3, 24, randomData(3<<8|3, 4096))

	// LUN 7 does not exist: INQUIRY answers with peripheral qualifier 011b, other
	// commands with LOGICAL UNIT NOT SUPPORTED; LUN 0 still works afterwards.
	inq, err := s.Inquiry(7)
	if err != nil || len(inq) == 0 || inq[0] != 0x7f {
		t.Fatalf("INQUIRY of a missing LUN: % x, %v; want peripheral byte 0x7f", inq, err)
	}
	expectSense(t, "TEST UNIT READY of a missing LUN", s.TestUnitReady(7), 0x05, 0x25)
	mustReadBack(t, s, 0, 24, randomData(3<<8|0, 4096))
}
