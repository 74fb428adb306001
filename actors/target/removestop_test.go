package target

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/go-hclog"

	"github.com/atgt/atgt/actors/dispatcher"
	"github.com/atgt/atgt/actors/lun"
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/scsi"
)

// TestStopLUNAnswersQueuedTasks: tasks a session routed to a LUN before its route
// was removed, still in its mailbox when the removal stops it, are answered (LOGICAL
// UNIT NOT SUPPORTED by the retired LUN), never dropped: the stop queues behind them.
func TestStopLUNAnswersQueuedTasks(t *testing.T) {
	cfg := &pb.Config{
		Portals: []string{"127.0.0.1:0"},
		DataDir: t.TempDir(),
		Targets: []*pb.Target{{Name: DefaultTargetName, Luns: []*pb.Lun{
			{Id: 0, Path: "lun0.img", SizeBytes: 1 << 20},
			{Id: 1, Path: "lun1.img", SizeBytes: 1 << 20},
		}}},
	}
	svc, err := StartWith(cfg, hclog.NewNullLogger(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Stop(10 * time.Second)
	var answered atomic.Int64
	probe := svc.system.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		if _, ok := c.Message().(*pb.ScsiCompletion); ok {
			answered.Add(1)
		}
	}))
	key := dispatcher.Key{Target: DefaultTargetName, LUN: 1}
	pid := svc.routes.Lookup(key.Target, key.LUN)
	retired := make(chan lun.RetireResult, 1)
	svc.system.Root.Send(pid, &lun.Retire{Force: true, Done: func(r lun.RetireResult) { retired <- r }})
	<-retired
	svc.routes.Set(key, nil)
	// A burst routed with the old table, still queued when the stop comes.
	const n = 2000
	for i := range n {
		svc.system.Root.Send(pid, &pb.ScsiTask{Itt: uint32(i), Lun: 1, Target: DefaultTargetName,
			Cdb: []byte{scsi.OpTestUnitReady, 0, 0, 0, 0, 0}, ReplyTo: pb.NewPid(probe), Nexus: "n1"})
	}
	svc.poisonLUN(key, pid) // the stop without its settle time: only the queue's order helps
	deadline := time.Now().Add(5 * time.Second)
	for answered.Load() < n && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := answered.Load(); got != n {
		t.Fatalf("%d of %d tasks queued at the LUN's stop were answered", got, n)
	}
}
