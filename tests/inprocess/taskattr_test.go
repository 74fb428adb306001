package inprocess

import (
	"testing"

	"github.com/atgt/atgt/messages/iscsi"
	"github.com/atgt/atgt/tests/initiator"
)

// TestACAAndReservedAttributesRefused: a command with the ACA task attribute while
// no ACA condition exists (atgt never establishes one: NACA is refused), or with a
// reserved attribute (5-7), is answered CHECK CONDITION, ILLEGAL REQUEST, INVALID
// FIELD IN CDB, as LIO does, instead of running as SIMPLE (data-path review); the
// session goes on, and SIMPLE, ORDERED and HEAD OF QUEUE still run.
func TestACAAndReservedAttributesRefused(t *testing.T) {
	svc := start(t, baseConfig(t), nil)
	s := dial(t, svc.Addrs()[0], initiator.Options{ISID: isid(991)})
	ready(t, s, 0)
	for _, c := range []struct {
		attr uint8
		good bool
	}{
		{iscsi.TaskAttrACA, false}, {5, false}, {6, false}, {7, false},
		{iscsi.TaskAttrSimple, true}, {iscsi.TaskAttrOrdered, true}, {iscsi.TaskAttrHeadOfQueue, true},
	} {
		res, err := s.SubmitAttr(c.attr, 0, read16(0, 1), nil, blockSize).Wait()
		if err != nil {
			t.Fatalf("attribute %d: %v", c.attr, err)
		}
		switch {
		case c.good && res.Status != 0:
			t.Errorf("attribute %d: status %#x sense %x, want GOOD", c.attr, res.Status, res.Sense)
		case !c.good && (res.Status != 2 || len(res.Sense) < 14 || res.Sense[2]&0x0f != 5 || res.Sense[12] != 0x24):
			t.Errorf("attribute %d: status %#x sense %x, want CHECK CONDITION, ILLEGAL REQUEST, INVALID FIELD IN CDB",
				c.attr, res.Status, res.Sense)
		}
	}
}
