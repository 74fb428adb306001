package inprocess

import (
	"testing"
	"time"

	"github.com/atgt/atgt/actors/target"
	"github.com/atgt/atgt/backend/faults"
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/scsi"
	"github.com/atgt/atgt/tests/initiator"
)

// faultsOf returns LUN id's injector from the running target.
func faultsOf(t *testing.T, svc *target.Service, id uint64) *faults.Injector {
	t.Helper()
	for _, l := range svc.LUNs() {
		if l.ID == id && l.Faults != nil {
			return l.Faults
		}
	}
	t.Fatalf("LUN %d has no faults", id)
	return nil
}

// TestConfiguredFaults: the faults of a LUN's config act on the initiator's
// commands. LUN 0 fails reads of one 4 KiB range (MEDIUM ERROR) while other reads
// and every write go on; LUN 1 delays writes; LUN 2 hangs reads of one block until
// its faults are cleared, while other LUNs are served.
func TestConfiguredFaults(t *testing.T) {
	const (
		badOff   = 1 << 20
		delay    = 150 * time.Millisecond
		hangOff  = 2 << 20
		hangSize = 512
	)
	cfg := baseConfig(t)
	cfg.Targets[0].Luns[0].Faults = []*pb.Fault{{Op: "read", Kind: "error", Offset: badOff, Length: 4096}}
	cfg.Targets[0].Luns = append(cfg.Targets[0].Luns,
		&pb.Lun{Id: 1, Backend: "memory", SizeBytes: lunSize,
			Faults: []*pb.Fault{{Op: "write", Kind: "delay", DelayMs: uint32(delay / time.Millisecond)}}},
		&pb.Lun{Id: 2, Backend: "memory", SizeBytes: lunSize,
			Faults: []*pb.Fault{{Op: "read", Kind: "hang", Offset: hangOff, Length: hangSize}}})
	svc := start(t, cfg, nil)
	s := dial(t, svc.Addrs()[0], initiator.Options{ISID: isid(700)})
	for lun := range uint64(3) {
		ready(t, s, lun)
	}

	t.Run("error", func(t *testing.T) {
		data := randomData(70, 64<<10)
		if err := s.Write(0, (badOff-32<<10)/blockSize, data, blockSize, false); err != nil {
			t.Fatalf("write over the faulty range: %v", err)
		}
		for _, r := range []struct{ off, n int64 }{{badOff, 4096}, {badOff + 3584, 512}, {badOff - 512, 1024}} {
			_, err := s.Read(0, uint64(r.off/blockSize), uint32(r.n/blockSize), blockSize)
			expectSense(t, "read of the faulty range", err, scsi.SenseMediumError, 0x11) // UNRECOVERED READ ERROR
		}
		mustReadBack(t, s, 0, (badOff-32<<10)/blockSize, data[:32<<10])
		mustReadBack(t, s, 0, (badOff+4096)/blockSize, data[32<<10+4096:])
		if got := faultsOf(t, svc, 0).Fired(); got[0] != 3 {
			t.Fatalf("Fired() = %v, want 3", got)
		}
	})

	t.Run("delay", func(t *testing.T) {
		begin := time.Now()
		if err := s.Write(1, 0, randomData(71, 4096), blockSize, false); err != nil {
			t.Fatalf("write: %v", err)
		}
		if took := time.Since(begin); took < delay {
			t.Fatalf("delayed write took %v, want at least %v", took, delay)
		}
		begin = time.Now()
		mustReadBack(t, s, 1, 0, randomData(71, 4096))
		if took := time.Since(begin); took >= delay {
			t.Fatalf("read took %v, but only writes are delayed", took)
		}
	})

	t.Run("hang", func(t *testing.T) {
		inj := faultsOf(t, svc, 2)
		hung := s.Submit(2, read16(hangOff/blockSize, 1), nil, hangSize)
		for deadline := time.Now().Add(5 * time.Second); inj.Held() != 1; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the READ of the hanging block never reached the backend")
			}
		}
		// Other LUNs go on. (Other IO on LUN 2 may wait behind the hung worker until
		// the LUN dispatches to idle workers only: issue 12, item 3.)
		for i := range uint64(8) {
			if _, err := s.Read(0, i*8, 8, blockSize); err != nil {
				t.Fatalf("read of LUN 0 while LUN 2 hangs: %v", err)
			}
		}
		select {
		case <-hung.Done():
			t.Fatal("the hung READ was answered before the faults were cleared")
		default:
		}
		inj.Clear()
		if r, err := hung.Wait(); err != nil || r.Status != scsi.StatusGood {
			t.Fatalf("the released READ: %v, %v", r, err)
		}
		if inj.Held() != 0 || inj.FiredByKind()[faults.Hang] != 1 {
			t.Fatalf("after Clear: held %d, fired %v", inj.Held(), inj.FiredByKind())
		}
		if _, err := s.Read(2, hangOff/blockSize, 1, blockSize); err != nil {
			t.Fatalf("read after Clear: %v", err)
		}
	})
	t.Run("set at runtime, released by Stop", func(t *testing.T) {
		// The hang is left in place: the target's Stop at cleanup must clear it,
		// or it would wait for the hung worker and fail after 10 s.
		inj := faultsOf(t, svc, 2)
		inj.Set([]faults.Fault{{Op: faults.Read, Kind: faults.Hang, Probability: 1}})
		s.Submit(2, read16(0, 1), nil, blockSize)
		for deadline := time.Now().Add(5 * time.Second); inj.Held() != 1; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the READ never hung")
			}
		}
	})
}
