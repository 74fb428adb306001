package inprocess

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/atgt/atgt/actors/target"
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/iscsi"
	"github.com/atgt/atgt/messages/scsi"
	"github.com/atgt/atgt/tests/initiator"
)

// TestTargetResetPolicies: targetReset "allow" keeps the resets of an initiator
// limited by initiatorLuns (its COLD RESET closes the other initiators' sessions, as
// RFC 7143 11.5.1 has a target reset do), and "refuse" refuses them even from an
// initiator that sees every LUN of a target without initiatorLuns. Under auto, an
// administrator's change holds for a session already logged in: once a LUN of its
// own is added for another initiator, an initiator that saw every LUN no longer may.
func TestTargetResetPolicies(t *testing.T) {
	t.Run("allow", func(t *testing.T) {
		cfg := tenantConfig(t)
		cfg.Targets[0].TargetReset = "allow"
		svc := start(t, cfg, nil)
		addr := svc.Addrs()[0]
		a := dial(t, addr, initiator.Options{InitiatorName: tenantA, ISID: isid(1410)})
		b := dial(t, addr, initiator.Options{ISID: isid(1411)})
		ready(t, b, 1)
		if resp, err := a.TaskMgmt(iscsi.TMFTargetColdReset, 0, 0); err != nil || resp != iscsi.TMFRespComplete {
			t.Fatalf("A's TARGET COLD RESET with targetReset allow: response %d, %v; want 0", resp, err)
		}
		select {
		case <-b.Done():
		case <-time.After(gateWait):
			t.Fatalf("B's session still up after A's allowed TARGET COLD RESET")
		}
	})
	t.Run("refuse", func(t *testing.T) {
		cfg := baseConfig(t)
		cfg.Targets[0].TargetReset = "refuse"
		svc := start(t, cfg, nil)
		s := dial(t, svc.Addrs()[0], initiator.Options{ISID: isid(1420)})
		ready(t, s, 0)
		for _, fn := range []uint8{iscsi.TMFTargetWarmReset, iscsi.TMFTargetColdReset} {
			if resp, err := s.TaskMgmt(fn, 0, 0); err != nil || resp != iscsi.TMFRespAuthorizationFailed {
				t.Fatalf("function %d with targetReset refuse: response %d, %v; want 6", fn, resp, err)
			}
		}
		// Nothing was reset: no unit attention, and LOGICAL UNIT RESET still works.
		if err := s.TestUnitReady(0); err != nil {
			t.Fatalf("TEST UNIT READY after refused resets: %v", err)
		}
		if resp, err := s.TaskMgmt(iscsi.TMFLUNReset, 0, 0); err != nil || resp != iscsi.TMFRespComplete {
			t.Fatalf("LOGICAL UNIT RESET with targetReset refuse: response %d, %v; want 0", resp, err)
		}
		var se *initiator.SCSIError
		if err := s.TestUnitReady(0); !errors.As(err, &se) || se.Key() != scsi.SenseUnitAttention || se.ASC() != 0x29 {
			t.Fatalf("TEST UNIT READY after LOGICAL UNIT RESET: %v; want UNIT ATTENTION 29/xx", err)
		}
	})
	t.Run("auto after an admin change", func(t *testing.T) {
		cfg, path := adminConfig(t)
		svc := startWith(t, cfg, target.Options{ConfigPath: path})
		s := dial(t, svc.Addrs()[0], initiator.Options{ISID: isid(1430)})
		ready(t, s, 0)
		if resp, err := s.TaskMgmt(iscsi.TMFTargetWarmReset, 0, 0); err != nil || resp != iscsi.TMFRespComplete {
			t.Fatalf("TARGET WARM RESET from the only initiator: response %d, %v; want 0", resp, err)
		}
		if _, err := svc.AddLun(context.Background(), &pb.AddLunRequest{Target: targetName, Initiator: tenantA,
			Lun: &pb.Lun{Id: 5, Backend: "memory", SizeBytes: lunSize}}); err != nil {
			t.Fatalf("AddLun for %s: %v", tenantA, err)
		}
		if resp, err := s.TaskMgmt(iscsi.TMFTargetColdReset, 0, 0); err != nil || resp != iscsi.TMFRespAuthorizationFailed {
			t.Fatalf("TARGET COLD RESET once %s has LUNs of its own: response %d, %v; want 6", tenantA, resp, err)
		}
	})
}
