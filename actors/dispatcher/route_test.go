package dispatcher

import (
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/go-hclog"

	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/iscsi"
	"github.com/atgt/atgt/messages/scsi"
)

// tagger forwards every task and task management function it receives, with its
// name, to a channel.
func tagger(name string, ch chan string) *actor.Props {
	return actor.PropsFromFunc(func(ctx actor.Context) {
		switch ctx.Message().(type) {
		case *pb.ScsiTask, *pb.TaskManagement, *pb.NexusLoss:
			ch <- name
		}
	})
}

// TestInitiatorRoutes: an initiator's own LUNs (routed by RouteName) and the
// target's shared ones are separate sets: a task reaches the LUN of its own set,
// REPORT LUNS through a missing LUN goes to the first LUN of the set, and a target
// reset and a nexus loss reach only the set's LUNs.
func TestInitiatorRoutes(t *testing.T) {
	sys := actor.NewActorSystem()
	defer sys.Shutdown()
	ch := make(chan string, 16)
	own := RouteName("iqn.t", "iqn.a")
	routes := Routes{
		{"iqn.t", 0}: sys.Root.Spawn(tagger("shared0", ch)),
		{own, 3}:     sys.Root.Spawn(tagger("a3", ch)),
		{own, 5}:     sys.Root.Spawn(tagger("a5", ch)),
	}
	d := sys.Root.Spawn(Props(NewTable(routes), hclog.NewNullLogger()))
	conn := pb.NewPid(sys.Root.Spawn(actor.PropsFromFunc(func(actor.Context) {})))
	expect := func(what string, want ...string) {
		t.Helper()
		got := map[string]bool{}
		for range want {
			select {
			case n := <-ch:
				got[n] = true
			case <-time.After(5 * time.Second):
				t.Fatalf("%s: got %v, want %v", what, got, want)
			}
		}
		for _, w := range want {
			if !got[w] {
				t.Fatalf("%s: got %v, want %v", what, got, want)
			}
		}
		select {
		case n := <-ch:
			t.Fatalf("%s: also reached %s", what, n)
		case <-time.After(50 * time.Millisecond):
		}
	}
	if own == "iqn.t" || RouteName("iqn.t", "iqn.b") == own {
		t.Fatal("route names collide")
	}
	sys.Root.Send(d, &pb.ScsiTask{Itt: 1, Target: own, Lun: 5, Cdb: []byte{scsi.OpTestUnitReady}, ReplyTo: conn})
	expect("task to LUN 5 of a", "a5")
	sys.Root.Send(d, &pb.ScsiTask{Itt: 2, Target: own, Lun: 0, Cdb: []byte{scsi.OpReportLUNs}, ReplyTo: conn})
	expect("REPORT LUNS through a's missing LUN 0", "a3")
	sys.Root.Send(d, &pb.ScsiTask{Itt: 3, Target: "iqn.t", Lun: 3, Cdb: []byte{scsi.OpReportLUNs}, ReplyTo: conn})
	expect("REPORT LUNS through a shared missing LUN 3", "shared0")
	sys.Root.Send(d, &pb.TaskManagement{Itt: 4, Target: own, Function: pb.TmfFunction_TMF_FUNCTION_TARGET_WARM_RESET, ReplyTo: conn})
	expect("a's target reset", "a3", "a5")
	sys.Root.Send(d, &pb.NexusLoss{Target: "iqn.t", Nexus: "n"})
	expect("a shared nexus loss", "shared0")
}

// TestTargetResetWithoutLUNs: a target reset of a route with no LUN left (an
// initiator's own LUNs all removed) is answered function complete, not "LUN does not
// exist"; a LUN reset there is "LUN does not exist".
func TestTargetResetWithoutLUNs(t *testing.T) {
	sys := actor.NewActorSystem()
	defer sys.Shutdown()
	d := sys.Root.Spawn(Props(NewTable(Routes{}), hclog.NewNullLogger()))
	answers := make(chan *pb.TaskManagementDone, 2)
	conn := pb.NewPid(sys.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		if m, ok := c.Message().(*pb.TaskManagementDone); ok {
			answers <- m
		}
	})))
	own := RouteName("iqn.t", "iqn.a")
	for _, tc := range []struct {
		fn   pb.TmfFunction
		want uint32
	}{
		{pb.TmfFunction_TMF_FUNCTION_TARGET_WARM_RESET, iscsi.TMFRespComplete},
		{pb.TmfFunction_TMF_FUNCTION_LOGICAL_UNIT_RESET, iscsi.TMFRespLUNNotExist},
	} {
		sys.Root.Send(d, &pb.TaskManagement{Itt: 1, Target: own, Function: tc.fn, ReplyTo: conn})
		select {
		case m := <-answers:
			if m.Response != tc.want {
				t.Errorf("%v of a route without LUNs: response %d, want %d", tc.fn, m.Response, tc.want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%v: no answer", tc.fn)
		}
	}
}
