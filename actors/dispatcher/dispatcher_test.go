package dispatcher

import (
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/go-hclog"

	pb "github.com/atgt/atgt/messages/atgtv1"
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
	d := sys.Root.Spawn(Props(Routes{{"iqn.t", 0}: lun0}, hclog.NewNullLogger()))
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
