package inprocess

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/atgt/atgt/backend"
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/scsi"
	"github.com/atgt/atgt/tests/initiator"
)

// TestMediumErrorReportsLBA: a MEDIUM ERROR whose first failing block is known
// carries it in INFORMATION with VALID set (SBC-4): a read that fails from its
// first block, and a one-block write. A multi-block write's failing block is not
// known: VALID stays clear.
func TestMediumErrorReportsLBA(t *testing.T) {
	const badReadOff = 2 << 20
	eio := errors.New("injected EIO")
	cfg := baseConfig(t)
	cfg.Targets[0].Luns = append(cfg.Targets[0].Luns, &pb.Lun{Id: 1, Backend: "memory", SizeBytes: lunSize})
	faults := map[uint64]backend.Fault{
		0: {Op: "write", Err: eio, Off: -1},
		1: {Op: "read", Err: eio, Off: badReadOff},
	}
	svc := start(t, cfg, func(_ string, lun uint64, b backend.Backend) backend.Backend {
		return backend.WithFaults(b, backend.Faults(faults[lun]))
	})
	s := dial(t, svc.Addrs()[0], initiator.Options{ISID: isid(510)})
	ready(t, s, 0)
	ready(t, s, 1)
	sense := func(err error) []byte {
		t.Helper()
		var se *initiator.SCSIError
		if !errors.As(err, &se) || len(se.Sense) < 18 || se.Sense[2]&0x0F != scsi.SenseMediumError {
			t.Fatalf("want MEDIUM ERROR, got %v", err)
		}
		return se.Sense
	}
	_, err := s.Read(1, badReadOff/blockSize, 16, blockSize)
	if b := sense(err); b[0]&0x80 == 0 || binary.BigEndian.Uint32(b[3:7]) != badReadOff/blockSize {
		t.Fatalf("read: sense % x, want VALID and INFORMATION %d", b, badReadOff/blockSize)
	}
	if b := sense(s.Write(0, 5, randomData(1, blockSize), blockSize, false)); b[0]&0x80 == 0 || binary.BigEndian.Uint32(b[3:7]) != 5 {
		t.Fatalf("one-block write: sense % x, want VALID and INFORMATION 5", b)
	}
	if b := sense(s.Write(0, 8, randomData(2, 4*blockSize), blockSize, false)); b[0]&0x80 != 0 {
		t.Fatalf("multi-block write: sense % x, want VALID clear", b)
	}
}
