package inprocess

import (
	"testing"
	"time"

	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/iscsi"
	"github.com/atgt/atgt/messages/scsi"
	"github.com/atgt/atgt/tests/initiator"
)

// tenantA is an initiator that has its own LUN 0 (initiatorLuns) on targetName.
const tenantA = "iqn.2026-11.dev.atgt:tenant-a"

// tenantConfig is targetName with a shared memory LUN 1, which every initiator but
// tenantA sees, and tenantA's own memory LUN 0.
func tenantConfig(t *testing.T) *pb.Config {
	cfg := baseConfig(t)
	tg := cfg.Targets[0]
	tg.Luns = []*pb.Lun{{Id: 1, Backend: "memory", SizeBytes: lunSize}}
	tg.InitiatorLuns = []*pb.InitiatorLuns{{Initiator: tenantA, Luns: []*pb.Lun{{Id: 0, Backend: "memory", SizeBytes: lunSize}}}}
	return cfg
}

// TestTargetResetRefusedForLimitedInitiator: initiatorLuns limit tenant A to its own
// LUN 0 while initiator B works on the shared LUN 1 (a RESERVE(6) held, a READ in a
// backend call). A's TARGET WARM RESET and TARGET COLD RESET are answered "Function
// authorization failed" (6, RFC 7143 11.6.1) and reset nothing: B's session stays
// up, its READ completes GOOD, it gets no unit attention, its reservation still
// holds against a third initiator C; A's own session and LUN go on untouched too.
// Before targetReset, A's COLD RESET closed B's session (and C's) with it.
func TestTargetResetRefusedForLimitedInitiator(t *testing.T) {
	gate := newGate()
	svc := start(t, tenantConfig(t), gate.wrap(1))
	addr := svc.Addrs()[0]
	a := dial(t, addr, initiator.Options{InitiatorName: tenantA, ISID: isid(1400)})
	ready(t, a, 0)
	b := dial(t, addr, initiator.Options{ISID: isid(1401)})
	ready(t, b, 1)
	c := dial(t, addr, initiator.Options{ISID: isid(1402), InitiatorName: initiatorName + "-c"})
	ready(t, c, 1)

	reserve := make([]byte, 6)
	reserve[0] = scsi.OpReserve6
	if res, err := b.Command(1, reserve, nil, 0); err != nil || res.Status != scsi.StatusGood {
		t.Fatalf("B's RESERVE(6) of LUN 1: %+v, %v", res, err)
	}
	gate.shut(t, "read")
	read := b.Submit(1, read16(0, 8), nil, 8*blockSize)
	gate.waitHeld(t, 1)

	for _, f := range []struct {
		fn   uint8
		name string
	}{{iscsi.TMFTargetWarmReset, "TARGET WARM RESET"}, {iscsi.TMFTargetColdReset, "TARGET COLD RESET"}} {
		resp, err := a.TaskMgmt(f.fn, 0, 0)
		if err != nil || resp != iscsi.TMFRespAuthorizationFailed {
			t.Errorf("A's %s: response %d, %v; want %d (Function authorization failed)", f.name, resp, err,
				iscsi.TMFRespAuthorizationFailed)
		}
	}

	gate.release()
	res, err := read.Wait()
	if err != nil || res.Status != scsi.StatusGood {
		t.Fatalf("B's READ held in the backend during A's resets: %+v, %v; want GOOD", res, err)
	}
	select {
	case <-b.Done():
		t.Fatalf("B's session ended after A's refused resets: %v", b.Err())
	case <-time.After(200 * time.Millisecond):
	}
	// B: no unit attention (a reset would leave 29/xx), its reservation holds.
	if err := b.TestUnitReady(1); err != nil {
		t.Fatalf("B's TEST UNIT READY of LUN 1 after A's refused resets: %v; want GOOD", err)
	}
	if res, err := c.Command(1, read16(0, 1), nil, blockSize); err != nil || res.Status != scsi.StatusReservationConflict {
		t.Fatalf("C's READ of LUN 1 reserved by B: %+v, %v; want RESERVATION CONFLICT", res, err)
	}
	// A's own session and LUN: untouched, no unit attention either.
	if err := a.TestUnitReady(0); err != nil {
		t.Fatalf("A's TEST UNIT READY of its LUN 0 after its refused resets: %v; want GOOD", err)
	}
}
