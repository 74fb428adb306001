package inprocess

import (
	"context"
	"errors"
	"testing"
	"time"

	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/scsi"
	"github.com/atgt/atgt/tests/initiator"
)

// TestLUNActorFailure makes the LUN actor itself panic (lunPanic faults) and checks
// that nothing is lost: the command it failed on is answered (HARDWARE ERROR,
// INTERNAL TARGET FAILURE), every initiator then sees a unit attention as after a
// reset, data written before reads back, the saved WCE survives the rebuild, and the
// LUN serves on under the same routes. A LUN that fails five times within a minute
// goes offline and answers every command NOT READY, LOGICAL UNIT FAILURE; ListLuns
// shows it offline and atgt_lun_online is 0.
func TestLUNActorFailure(t *testing.T) {
	t.Run("recovers", func(t *testing.T) {
		cfg := baseConfig(t)
		// Three panics, on WRITEs to the first MiB only.
		cfg.Targets[0].Luns[0].Faults = []*pb.Fault{{Op: "write", Kind: "lunPanic", Length: 1 << 20, Count: 3}}
		svc := start(t, cfg, nil)
		s := dial(t, svc.Addrs()[0], initiator.Options{ISID: isid(1600), Timeout: 5 * time.Second})
		other := dial(t, svc.Addrs()[0], initiator.Options{ISID: isid(1601), Timeout: 5 * time.Second})
		ready(t, s, 0)
		ready(t, other, 0)
		before := randomData(1600, 64<<10)
		if err := s.Write(0, 4096, before, blockSize, false); err != nil {
			t.Fatalf("write outside the faulted range: %v", err)
		}
		if err := s.ModeSelectWCE(0, false); err != nil { // not saved: a rebuild restores WCE=1
			t.Fatalf("MODE SELECT: %v", err)
		}
		for i := range 3 {
			err := s.Write(0, uint64(i*8), randomData(uint64(i), 4096), blockSize, false)
			if i > 0 {
				err = retryUA(err, func() error { return s.Write(0, uint64(i*8), randomData(uint64(i), 4096), blockSize, false) })
			}
			expectSense(t, "WRITE that panics the LUN actor", err, scsi.SenseHardwareError, 0x44)
		}
		// Both initiators learn of the rebuild with a unit attention, once.
		for _, sess := range []*initiator.Session{s, other} {
			var se *initiator.SCSIError
			if err := sess.TestUnitReady(0); !errors.As(err, &se) || se.Key() != scsi.SenseUnitAttention {
				t.Fatalf("first command after the rebuild: %v; want UNIT ATTENTION", err)
			}
			ready(t, sess, 0)
		}
		mustReadBack(t, s, 0, 4096, before)
		after := randomData(1601, 4096)
		if err := s.Write(0, 0, after, blockSize, false); err != nil {
			t.Fatalf("write after the panics: %v", err)
		}
		mustReadBack(t, other, 0, 0, after)
		if wce, err := s.ModeSenseWCE(0); err != nil || !wce {
			t.Fatalf("WCE after the rebuild = %v, %v; want the configured true (the change was not saved)", wce, err)
		}
	})
	t.Run("offline", func(t *testing.T) {
		cfg := baseConfig(t)
		cfg.Targets[0].Luns[0].Faults = []*pb.Fault{{Op: "write", Kind: "lunPanic"}}
		svc := start(t, cfg, nil)
		s := dial(t, svc.Addrs()[0], initiator.Options{ISID: isid(1602), Timeout: 5 * time.Second})
		ready(t, s, 0)
		for i := range 5 {
			err := retryUA(nil, func() error { return s.Write(0, uint64(i*8), randomData(uint64(i), 4096), blockSize, false) })
			expectSense(t, "WRITE that panics the LUN actor", err, scsi.SenseHardwareError, 0x44)
		}
		for _, cmd := range []func() error{
			func() error { return s.TestUnitReady(0) },
			func() error { _, err := s.Read(0, 0, 8, blockSize); return err },
			func() error { _, err := s.Inquiry(0); return err },
		} {
			expectSense(t, "command to an offline LUN", cmd(), scsi.SenseNotReady, 0x3E)
		}
		// The administrator sees it without the log (atgtctl luns), and so does an
		// alert (atgt_lun_online).
		resp, err := svc.ListLuns(context.Background(), &pb.ListLunsRequest{})
		if err != nil || len(resp.Luns) == 0 || resp.Luns[0].State != "offline" || resp.Luns[0].Reason == "" {
			t.Errorf("ListLuns of the offline LUN: %v, %v; want state offline with a reason", resp, err)
		}
		if m := svc.Metrics().LUN(cfg.Targets[0].Name, 0); m.Online() {
			t.Error("atgt_lun_online is 1 for the offline LUN")
		}
	})
}

// retryUA runs cmd (again, if err is a unit attention; err nil runs it first) until
// it reports something other than a unit attention.
func retryUA(err error, cmd func() error) error {
	for range 4 {
		var se *initiator.SCSIError
		if err != nil && !(errors.As(err, &se) && se.Key() == scsi.SenseUnitAttention) {
			return err
		}
		err = cmd()
	}
	return err
}
