package dispatcher

import (
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/go-hclog"

	"github.com/atgt/atgt/actors/supervise"
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/iscsi"
	"github.com/atgt/atgt/messages/scsi"
)

// collector forwards every message it receives to a channel.
func collector(ch chan any) *actor.Props {
	return actor.PropsFromFunc(func(ctx actor.Context) {
		switch ctx.Message().(type) {
		case *pb.ScsiTask, *pb.ScsiCompletion:
			ch <- ctx.Message()
		}
	})
}

func recv(t *testing.T, ch chan any) any {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no message")
		return nil
	}
}

func TestDispatcherRoutes(t *testing.T) {
	sys := actor.NewActorSystem()
	defer sys.Shutdown()
	lunCh, replyCh := make(chan any, 4), make(chan any, 4)
	lun0 := sys.Root.Spawn(collector(lunCh))
	conn := sys.Root.Spawn(collector(replyCh))
	d := sys.Root.Spawn(Props(NewTable(Routes{{"iqn.t", 0}: lun0}), hclog.NewNullLogger()))
	reply := pb.NewPid(conn)

	// A configured LUN gets its task.
	sys.Root.Send(d, &pb.ScsiTask{Itt: 1, Target: "iqn.t", Lun: 0, Cdb: []byte{scsi.OpTestUnitReady}, ReplyTo: reply})
	if got := recv(t, lunCh).(*pb.ScsiTask); got.Itt != 1 {
		t.Fatalf("routed %v", got)
	}
	// REPORT LUNS through a missing LUN goes to the target's first LUN.
	sys.Root.Send(d, &pb.ScsiTask{Itt: 2, Target: "iqn.t", Lun: 7, Cdb: []byte{scsi.OpReportLUNs}, ReplyTo: reply})
	if got := recv(t, lunCh).(*pb.ScsiTask); got.Itt != 2 {
		t.Fatalf("routed %v", got)
	}
	// INQUIRY to a missing LUN: peripheral qualifier 011b, device type 1Fh.
	sys.Root.Send(d, &pb.ScsiTask{Itt: 3, Target: "iqn.t", Lun: 7, Cdb: []byte{scsi.OpInquiry, 0, 0, 0, 36, 0}, ReplyTo: reply})
	c := recv(t, replyCh).(*pb.ScsiCompletion)
	if c.Itt != 3 || c.Status != 0 || len(c.DataIn) != 36 || c.DataIn[0] != 0x7f {
		t.Fatalf("inquiry completion %v", c)
	}
	// Anything else to a missing LUN: LOGICAL UNIT NOT SUPPORTED.
	sys.Root.Send(d, &pb.ScsiTask{Itt: 4, Target: "iqn.t", Lun: 7, Cdb: []byte{scsi.OpRead10, 0, 0, 0, 0, 0, 0, 0, 1, 0}, ReplyTo: reply})
	c = recv(t, replyCh).(*pb.ScsiCompletion)
	if c.Itt != 4 || c.Status != uint32(scsi.StatusCheckCondition) || len(c.Sense) < 14 || c.Sense[2]&0x0f != scsi.SenseIllegalRequest || c.Sense[12] != 0x25 {
		t.Fatalf("missing LUN completion %v", c)
	}
	// A LUN of another target is not reachable.
	sys.Root.Send(d, &pb.ScsiTask{Itt: 5, Target: "iqn.other", Lun: 0, Cdb: []byte{scsi.OpTestUnitReady}, ReplyTo: reply})
	if c = recv(t, replyCh).(*pb.ScsiCompletion); c.Itt != 5 || c.Status != uint32(scsi.StatusCheckCondition) {
		t.Fatalf("cross-target completion %v", c)
	}
}

// sent is one message Failed sent.
type sent struct {
	to  *actor.PID
	msg any
}

// TestFailedAnswers: what the dispatcher failed on is answered: a task with CHECK
// CONDITION (HARDWARE ERROR, INTERNAL TARGET FAILURE), a task management function
// with FUNCTION REJECTED and a fan-out of 1 (the connection waits for nothing more),
// a nexus loss delivered to every LUN of its target.
func TestFailedAnswers(t *testing.T) {
	var out []sent
	send := func(pid *actor.PID, m any) { out = append(out, sent{pid, m}) }
	conn := actor.NewPID("local", "conn")
	lun0, lun1, other := actor.NewPID("local", "lun0"), actor.NewPID("local", "lun1"), actor.NewPID("local", "other")
	routes := Routes{{"iqn.t", 0}: lun0, {"iqn.t", 1}: lun1, {"iqn.o", 0}: other}

	Failed(send, routes, &pb.ScsiTask{Itt: 3, ReplyTo: pb.NewPid(conn)})
	c, ok := out[0].msg.(*pb.ScsiCompletion)
	if len(out) != 1 || !out[0].to.Equal(conn) || !ok || c.Itt != 3 || c.Status != uint32(scsi.StatusCheckCondition) ||
		c.Sense[2]&0x0f != scsi.SenseHardwareError || c.Sense[12] != 0x44 {
		t.Fatalf("task: sent %v", out)
	}

	out = nil
	Failed(send, routes, &pb.TaskManagement{Itt: 4, FanOut: 2, ReplyTo: pb.NewPid(conn)})
	d, ok := out[0].msg.(*pb.TaskManagementDone)
	if len(out) != 1 || !out[0].to.Equal(conn) || !ok || d.Itt != 4 || d.Response != iscsi.TMFRespRejected || d.FanOut != 1 {
		t.Fatalf("task management: sent %v", out)
	}

	out = nil
	Failed(send, routes, &pb.NexusLoss{Target: "iqn.t", Nexus: "n"})
	got := map[string]bool{}
	for _, s := range out {
		got[s.to.Id] = true
	}
	if len(out) != 2 || !got["lun0"] || !got["lun1"] {
		t.Fatalf("nexus loss: sent to %v, want lun0 and lun1", got)
	}

	out = nil
	Failed(send, routes, &supervise.Crash{})
	Failed(send, routes, nil)
	if len(out) != 0 {
		t.Fatalf("messages that need no answer: sent %v", out)
	}
}

// TestCrashFailsTheDispatcher: Crash makes the dispatcher fail, with the Crash as the
// message its supervisor is handed.
func TestCrashFailsTheDispatcher(t *testing.T) {
	sys := actor.NewActorSystem()
	defer sys.Shutdown()
	failed := make(chan any, 1)
	strategy := strategyFunc(func(message any) { failed <- message })
	pidCh := make(chan *actor.PID, 1)
	sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if _, ok := ctx.Message().(*actor.Started); ok {
			pidCh <- ctx.Spawn(Props(NewTable(Routes{}), hclog.NewNullLogger()))
		}
	}, actor.WithSupervisor(strategy)))
	sys.Root.Send(<-pidCh, &supervise.Crash{Reason: "test"})
	select {
	case m := <-failed:
		if _, ok := m.(*supervise.Crash); !ok {
			t.Fatalf("the supervisor got %T, want the Crash", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the dispatcher did not fail")
	}
}

// strategyFunc is a supervisor strategy that reports the failed message and resumes.
type strategyFunc func(message any)

func (f strategyFunc) HandleFailure(_ *actor.ActorSystem, sup actor.Supervisor, child *actor.PID, _ *actor.RestartStatistics, _, message any) {
	f(actor.UnwrapEnvelopeMessage(message))
	sup.ResumeChildren(child)
}
