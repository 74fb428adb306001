package cmdphase

import (
	"strings"
	"testing"

	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/iscsi"
	"github.com/atgt/atgt/messages/scsi"
)

// TestRouteScopesTheNexus: a session whose login gave it a route of its own (an
// initiator with its own LUNs) sends its tasks, task management and nexus loss by
// that route, and another nexus's task set abort reaches it only if it names the
// same route: the shared LUN 0 is not its LUN 0.
func TestRouteScopesTheNexus(t *testing.T) {
	const route = "iqn.2026-11.test:tgt iqn.2026-11.test:init"
	cfg := defaultConfig()
	cfg.Login.Route = route
	h := newHarness(cfg, 1)
	read := func(itt, cmdSN uint32) {
		p := &iscsi.PDU{}
		b := &p.BHS
		b.SetOpcode(iscsi.OpSCSICmd)
		b.SetFlags(iscsi.FlagFinal | iscsi.CmdFlagRead | 1)
		b.SetITT(itt)
		b.SetCmdSN(cmdSN)
		b.SetExpectedDataTransferLength(4096)
		b.SetLUN(scsi.EncodeLUN(0))
		copy(b.CDB(), cdb("read16", 4096))
		h.m.PDU(p, false)
		h.drain()
	}
	read(1, 1)
	if task := h.atLUN[1]; task == nil || task.Target != route {
		t.Fatalf("task at the LUN: %v; want target %q\n%s", task, route, h.out.String())
	}
	// The shared LUN 0's task set was aborted: not this nexus's LUN 0.
	h.out.Reset()
	h.m.AbortedByOther(&pb.TaskSetAborted{Target: "iqn.2026-11.test:tgt", Luns: []uint64{0}, ExpCmdSn: 2})
	h.drain()
	if h.out.Len() != 0 {
		t.Fatalf("another route's abort touched the task:\n%s", h.out.String())
	}
	// Its own LUN 0's task set was aborted: the task ends TASK ABORTED once its
	// completion comes back.
	h.m.AbortedByOther(&pb.TaskSetAborted{Target: route, Luns: []uint64{0}, ExpCmdSn: 2})
	h.drain()
	h.m.Complete(&pb.ScsiCompletion{Itt: 1})
	h.drain()
	if !strings.Contains(h.out.String(), "status=0x40") {
		t.Fatalf("own route's abort did not end the task TASK ABORTED:\n%s", h.out.String())
	}
	// A LUN reset's task set abort (to the other sessions), the function itself and
	// the nexus loss go by the route too.
	var targets []string
	collect := func() {
		for _, msg := range h.m.Out.Msgs {
			switch m := msg.M.(type) {
			case *pb.TaskManagement:
				targets = append(targets, m.Target)
			case *pb.NexusLoss:
				targets = append(targets, m.Target)
			case *pb.TaskSetAborted:
				targets = append(targets, m.Target)
			}
		}
	}
	p := &iscsi.PDU{}
	b := &p.BHS
	b.SetOpcode(iscsi.OpTaskMgmtReq)
	b.SetImmediate(true)
	b.SetFlags(iscsi.FlagFinal | iscsi.TMFLUNReset)
	b.SetITT(9)
	b.SetReferencedTaskTag(iscsi.ReservedTag)
	b.SetCmdSN(2)
	h.hold = true // the session's answer is given by hand, to see what it releases
	h.m.PDU(p, false)
	h.drain()
	h.m.Ready(&pb.CommandReady{Itt: 9, ExpCmdSn: 2})
	collect()
	h.drain()
	h.m.Closed("test")
	collect()
	h.drain()
	if len(targets) != 3 || targets[0] != route || targets[1] != route || targets[2] != route {
		t.Fatalf("task set abort, task management and nexus loss went to %q, want %q\n%s", targets, route, h.out.String())
	}
}
