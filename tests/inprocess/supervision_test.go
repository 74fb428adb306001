package inprocess

import (
	"errors"
	"testing"

	"time"

	"github.com/atgt/atgt/backend"
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/scsi"
	"github.com/atgt/atgt/tests/initiator"
)

// TestWorkerPanic: an IO worker that panics is restarted and its task answered with
// CHECK CONDITION, HARDWARE ERROR / INTERNAL TARGET FAILURE (ASC 0x44), never left
// hanging. LUN 0 panics on every read; LUN 1 only on reads at one offset, so later
// tasks on it show the restarted workers serve normally. More panics than the LUN
// has workers are provoked, so restarts (not spare workers) must be doing the work.
func TestWorkerPanic(t *testing.T) {
	const badOff = 1 << 20
	cfg := baseConfig(t)
	cfg.Targets[0].Luns = append(cfg.Targets[0].Luns, &pb.Lun{Id: 1, Backend: "memory", SizeBytes: lunSize, Workers: 2})
	svc := start(t, cfg, func(_ string, lun uint64, b backend.Backend) backend.Backend {
		if lun == 0 {
			return backend.WithFaults(b, backend.Faults(backend.Fault{Op: "read", Panic: true, Off: -1}))
		}
		return backend.WithFaults(b, backend.Faults(backend.Fault{Op: "read", Panic: true, Off: badOff}))
	})
	addr := svc.Addrs()[0]
	s := dial(t, addr, initiator.Options{ISID: isid(400), Timeout: 5 * time.Second})
	ready(t, s, 0)
	ready(t, s, 1)

	_, err := s.Read(0, 0, 8, blockSize)
	expectSense(t, "read on a LUN whose reads panic", err, scsi.SenseHardwareError, 0x44)
	// Writes do not touch the faulty path and must still work on LUN 0.
	if err := s.Write(0, 0, randomData(1, 4096), blockSize, false); err != nil {
		t.Fatalf("write on LUN 0 after a worker panic: %v", err)
	}

	for round := range 5 {
		_, err := s.Read(1, badOff/blockSize, 8, blockSize)
		expectSense(t, "read at the faulty offset", err, scsi.SenseHardwareError, 0x44)
		data := randomData(uint64(10+round), 64<<10)
		lba := uint64(4096 + round*256)
		if err := s.Write(1, lba, data, blockSize, false); err != nil {
			t.Fatalf("round %d: write after a panic: %v", round, err)
		}
		mustReadBack(t, s, 1, lba, data)
	}
	// Concurrent tasks mixing failing and good reads: every one is answered.
	var tasks []*initiator.Task
	for i := range 16 {
		lba := uint64(8192 + i*8)
		if i%4 == 0 {
			lba = badOff / blockSize
		}
		tasks = append(tasks, s.Submit(1, read16(lba, 8), nil, 4096))
	}
	for i, tk := range tasks {
		r, err := tk.Wait()
		if err != nil {
			t.Fatalf("concurrent read %d: %v", i, err)
		}
		want := uint8(scsi.StatusGood)
		if i%4 == 0 {
			want = scsi.StatusCheckCondition
		}
		if r.Status != want {
			t.Fatalf("concurrent read %d: status %#x, want %#x", i, r.Status, want)
		}
	}

	// The service is unaffected: a new session logs in and works.
	s2 := dial(t, addr, initiator.Options{ISID: isid(401)})
	ready(t, s2, 1)
	if _, err := s2.Inquiry(1); err != nil {
		t.Fatalf("inquiry on a new session: %v", err)
	}
	if _, err := s2.Read(0, 0, 1, blockSize); !errors.As(err, new(*initiator.SCSIError)) {
		t.Fatalf("LUN 0 read on a new session: %v, want CHECK CONDITION", err)
	}
}
