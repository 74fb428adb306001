package inprocess

import (
	"testing"

	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/tests/initiator"
)

// statusPastUA runs cdb, skipping unit attentions, and returns the status.
func statusPastUA(t *testing.T, s *initiator.Session, lun uint64, cdb, data []byte) uint8 {
	t.Helper()
	for range 4 {
		r, err := s.Command(lun, cdb, data, 0)
		if err != nil {
			t.Fatalf("command %x: %v", cdb[0], err)
		}
		if r.Status == 0x02 && len(r.Sense) > 2 && r.Sense[2]&0x0F == 0x06 {
			continue
		}
		return r.Status
	}
	t.Fatalf("unit attentions forever")
	return 0
}

// A holds Write Exclusive - Registrants Only and fenced B (PREEMPT AND ABORT,
// fence_scsi's sequence, with APTPL=0 as fence_scsi sends by default). A failure
// of the LUN actor (lunPanic on a write of A) rebuilds the device model but keeps
// the reservations: fenced B's writes still conflict, and READ KEYS still lists
// A's key only.
func TestLUNPanicKeepsFence(t *testing.T) {
	cfg := baseConfig(t)
	cfg.Targets[0].Luns[0].Faults = []*pb.Fault{{Op: "write", Kind: "lunPanic", Offset: 1 << 20, Length: 4096, Count: 1}}
	svc := start(t, cfg, nil)
	a := dial(t, svc.Addrs()[0], initiator.Options{ISID: isid(11)})
	b := dial(t, svc.Addrs()[0], initiator.Options{ISID: isid(12)})
	ready(t, a, 0)
	ready(t, b, 0)
	for _, r := range []struct {
		s   *initiator.Session
		key uint64
	}{{a, 0xa}, {b, 0xb}} {
		cdb, p := prOut(0x06, 0, 0, r.key) // REGISTER AND IGNORE EXISTING KEY
		if st := statusPastUA(t, r.s, 0, cdb, p); st != 0 {
			t.Fatalf("REGISTER: %#x", st)
		}
	}
	cdb, p := prOut(0x01, 5, 0xa, 0)
	if st := statusPastUA(t, a, 0, cdb, p); st != 0 {
		t.Fatalf("RESERVE: %#x", st)
	}
	cdb, p = prOut(0x05, 5, 0xa, 0xb) // fence B
	if st := statusPastUA(t, a, 0, cdb, p); st != 0 {
		t.Fatalf("PREEMPT AND ABORT: %#x", st)
	}
	if st := statusPastUA(t, b, 0, write16(0, 1), randomData(1, blockSize)); st != 0x18 {
		t.Fatalf("fenced B's write: %#x, want RESERVATION CONFLICT", st)
	}
	// A's write panics the LUN actor once.
	if r, err := a.Command(0, write16(2048, 8), randomData(2, 4096), 0); err != nil || r.Status != 0x02 || r.Sense[2]&0x0F != 0x04 {
		t.Fatalf("A's write that panics the LUN actor: %v %+v", err, r)
	}
	if st := statusPastUA(t, b, 0, write16(0, 1), randomData(3, blockSize)); st != 0x18 {
		t.Fatalf("fenced B's write after a LUN actor failure: status %#x, want RESERVATION CONFLICT (the fence is gone)", st)
	}
	if st := statusPastUA(t, a, 0, write16(0, 1), randomData(4, blockSize)); st != 0 {
		t.Fatalf("holder A's write after a LUN actor failure: status %#x, want GOOD", st)
	}
	keys := []byte{0x5E, 0x00, 0, 0, 0, 0, 0, 0x10, 0, 0} // READ KEYS
	r, err := a.Command(0, keys, nil, 0x1000)
	if err != nil || r.Status != 0 || len(r.Data) < 16 || r.Data[7] != 8 || r.Data[15] != 0xa {
		t.Fatalf("READ KEYS after the failure: %v %+v, want A's key only", err, r)
	}
}
