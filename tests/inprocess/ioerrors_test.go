package inprocess

import (
	"errors"
	"testing"

	"github.com/atgt/atgt/backend"
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/scsi"
	"github.com/atgt/atgt/tests/initiator"
)

// TestIOErrors: a backend error is CHECK CONDITION, MEDIUM ERROR, never GOOD. LUN 0
// fails every write, LUN 1 every sync, LUN 2 reads at one offset.
func TestIOErrors(t *testing.T) {
	const badReadOff = 2 << 20
	eio := errors.New("injected EIO")
	cfg := baseConfig(t)
	for id := uint64(1); id <= 2; id++ {
		cfg.Targets[0].Luns = append(cfg.Targets[0].Luns, &pb.Lun{Id: id, Backend: "memory", SizeBytes: lunSize})
	}
	faults := map[uint64]backend.Fault{
		0: {Op: "write", Err: eio, Off: -1},
		1: {Op: "sync", Err: eio, Off: -1},
		2: {Op: "read", Err: eio, Off: badReadOff},
	}
	svc := start(t, cfg, func(_ string, lun uint64, b backend.Backend) backend.Backend {
		return backend.WithFaults(b, backend.Faults(faults[lun]))
	})
	s := dial(t, svc.Addrs()[0], initiator.Options{ISID: isid(500)})
	for lun := range uint64(3) {
		ready(t, s, lun)
	}

	tests := []struct {
		name string
		lun  uint64
		op   func(lun uint64) error
	}{
		{"write", 0, func(l uint64) error { return s.Write(l, 0, randomData(1, 4096), blockSize, false) }},
		{"FUA write", 0, func(l uint64) error { return s.Write(l, 8, randomData(2, 4096), blockSize, true) }},
		{"large write", 0, func(l uint64) error { return s.Write(l, 64, randomData(3, 1<<20), blockSize, false) }},
		{"sync", 1, func(l uint64) error { return s.SyncCache(l) }},
		{"sync again (a failed sync keeps failing)", 1, func(l uint64) error { return s.SyncCache(l) }},
		{"read", 2, func(l uint64) error { _, err := s.Read(l, badReadOff/blockSize, 16, blockSize); return err }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			expectSense(t, tc.name, tc.op(tc.lun), scsi.SenseMediumError, -1)
		})
	}
	// What does not hit a fault still works.
	if err := s.Write(1, 0, randomData(4, 8192), blockSize, true); err != nil {
		t.Fatalf("write on the sync-failing LUN: %v", err)
	}
	mustReadBack(t, s, 1, 0, randomData(4, 8192))
	if _, err := s.Read(2, 0, 16, blockSize); err != nil {
		t.Fatalf("read elsewhere on LUN 2: %v", err)
	}
}
