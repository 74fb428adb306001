package inprocess

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/go-hclog"

	"github.com/atgt/atgt/actors/lun"
	"github.com/atgt/atgt/actors/target"
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/tests/initiator"
)

// embedMisuse sends the LUN actor an embedder's task and then checks that a
// network initiator is still served; it returns the embedder's answer (nil: none in
// 2 s) and the warn-level log.
func embedMisuse(t *testing.T, task func(me *actor.PID) *pb.ScsiTask) (*pb.ScsiCompletion, string) {
	var logBuf bytes.Buffer
	log := hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: &logBuf})
	system := actor.NewActorSystem()
	defer system.Shutdown()
	svc, err := target.StartWith(baseConfig(t), log, target.Options{System: system})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Stop(10 * time.Second)
	answers, me := embedderReady(system, svc)
	system.Root.Send(svc.LUNActor(targetName, 0), task(me))
	var got *pb.ScsiCompletion
	select {
	case got = <-answers:
		t.Logf("embedder got status 0x%02x sense %x", got.Status, got.Sense)
	case <-time.After(2 * time.Second):
		t.Logf("embedder got no answer in 2s")
	}
	s := dial(t, svc.Addrs()[0], initiator.Options{Timeout: 5 * time.Second})
	ready(t, s, 0)
	if _, err := s.Read(0, 0, 1, blockSize); err != nil {
		t.Errorf("network READ after the embedder's task: %v", err)
	}
	out := logBuf.String()
	if os.Getenv("SHOWLOG") != "" || t.Failed() {
		t.Logf("log:\n%s", out)
	}
	if strings.Contains(out, "panic") || strings.Contains(out, "restarted") {
		t.Errorf("an embedder's task crashed an actor:\n%s", out)
	}
	return got, out
}

// refused checks that c is a CHECK CONDITION ILLEGAL REQUEST with asc.
func refused(t *testing.T, c *pb.ScsiCompletion, asc byte) {
	t.Helper()
	if c == nil || c.Status != 2 || len(c.Sense) < 14 || c.Sense[2]&0x0F != 5 || c.Sense[12] != asc {
		t.Errorf("answer %v, want CHECK CONDITION ILLEGAL REQUEST asc 0x%02x", c, asc)
	}
}

// TestEmbedShortDataOut: a WRITE(16) of 8 blocks with 1 block of data_out is
// refused at the LUN's door (0E/03).
func TestEmbedShortDataOut(t *testing.T) {
	c, log := embedMisuse(t, func(me *actor.PID) *pb.ScsiTask {
		return &pb.ScsiTask{Itt: 1, Target: targetName, Lun: 0, Cdb: write16(0, 8), Write: true,
			ExpectedLength: 8 * blockSize, DataOut: make([]byte, blockSize), Nexus: "embedder", ReplyTo: pb.NewPid(me)}
	})
	refused(t, c, 0x0E)
	if !strings.Contains(log, "data_out of 512 bytes") {
		t.Errorf("no warning naming the short data_out:\n%s", log)
	}
}

// TestEmbedDataOutShortOfCDB: data_out matching expected_length but not the CDB's
// 8 blocks is refused too.
func TestEmbedDataOutShortOfCDB(t *testing.T) {
	c, _ := embedMisuse(t, func(me *actor.PID) *pb.ScsiTask {
		return &pb.ScsiTask{Itt: 1, Target: targetName, Lun: 0, Cdb: write16(0, 8), Write: true,
			ExpectedLength: blockSize, DataOut: make([]byte, blockSize), Nexus: "embedder", ReplyTo: pb.NewPid(me)}
	})
	refused(t, c, 0x0E)
}

// TestEmbedNoReplyTo: a READ(16) without ReplyTo is dropped at the door with a
// warning naming reply_to; nothing crashes.
func TestEmbedNoReplyTo(t *testing.T) {
	_, log := embedMisuse(t, func(me *actor.PID) *pb.ScsiTask {
		return &pb.ScsiTask{Itt: 1, Target: targetName, Lun: 0, Cdb: read16(0, 1), Read: true,
			ExpectedLength: blockSize, Nexus: "embedder"}
	})
	if !strings.Contains(log, "no reply_to") {
		t.Errorf("no warning naming the missing reply_to:\n%s", log)
	}
}

// TestEmbedNoReplyToTUR: a TEST UNIT READY without ReplyTo (which the LUN actor
// would answer itself) is dropped at the door; the LUN actor does not restart.
func TestEmbedNoReplyToTUR(t *testing.T) {
	_, log := embedMisuse(t, func(me *actor.PID) *pb.ScsiTask {
		return &pb.ScsiTask{Itt: 1, Target: targetName, Lun: 0, Cdb: make([]byte, 6), Nexus: "embedder"}
	})
	if !strings.Contains(log, "no reply_to") {
		t.Errorf("no warning naming the missing reply_to:\n%s", log)
	}
}

// TestEmbedHugeExpected: a READ(16) of 1 Mi blocks with expected_length 4 GiB-1 is
// answered (past the end of the LUN) and leaves the LUN serving.
func TestEmbedHugeExpected(t *testing.T) {
	c, _ := embedMisuse(t, func(me *actor.PID) *pb.ScsiTask {
		return &pb.ScsiTask{Itt: 1, Target: targetName, Lun: 0, Cdb: read16(0, 1<<20), Read: true,
			ExpectedLength: 0xffffffff, Nexus: "embedder", ReplyTo: pb.NewPid(me)}
	})
	if c == nil {
		t.Error("no answer")
	}
}

// TestEmbedNoCDB: a task without a CDB is answered INVALID COMMAND OPERATION CODE.
func TestEmbedNoCDB(t *testing.T) {
	c, log := embedMisuse(t, func(me *actor.PID) *pb.ScsiTask {
		return &pb.ScsiTask{Itt: 1, Target: targetName, Lun: 0, Nexus: "embedder", ReplyTo: pb.NewPid(me)}
	})
	refused(t, c, 0x20)
	if !strings.Contains(log, "no cdb") {
		t.Errorf("no warning naming the missing cdb:\n%s", log)
	}
}

// TestEmbedNoReplyToThenOrdered: an embedder's READ without ReplyTo is refused at the
// LUN's door, so an ORDERED task from the network, which waits for every task
// before it, still completes, and so does Stop.
func TestEmbedNoReplyToThenOrdered(t *testing.T) { noReplyToThenOrdered(t, false) }

// TestNoReplyToPastTheDoor: the same task sent straight to the LUN actor, past the
// door: the worker does the IO, drops the answer it cannot send and balances the
// LUN's task order, so the ORDERED task still completes.
func TestNoReplyToPastTheDoor(t *testing.T) { noReplyToThenOrdered(t, true) }

// noReplyToThenOrdered sends a READ without ReplyTo to the LUN's door (or past it,
// raw) and checks that an ORDERED task from the network, which waits for every task
// before it, still completes, and that Stop does.
func noReplyToThenOrdered(t *testing.T, raw bool) {
	system := actor.NewActorSystem()
	defer system.Shutdown()
	svc, err := target.StartWith(baseConfig(t), hclog.NewNullLogger(), target.Options{System: system})
	if err != nil {
		t.Fatal(err)
	}
	embedderReady(system, svc) // the task below carries no ReplyTo
	to := svc.LUNActor(targetName, 0)
	if raw { // past the door, as a bug of atgt's own might send it
		to = actor.NewPID(to.Address, strings.TrimSuffix(to.Id, "/"+lun.DoorName))
	}
	system.Root.Send(to, &pb.ScsiTask{Itt: 1, Target: targetName, Lun: 0, Cdb: read16(0, 1), Read: true,
		ExpectedLength: blockSize, Nexus: "embedder"})
	time.Sleep(300 * time.Millisecond)
	s := dial(t, svc.Addrs()[0], initiator.Options{Timeout: 5 * time.Second})
	ready(t, s, 0)
	task := s.SubmitAttr(2, 0, read16(0, 1), nil, blockSize) // ORDERED
	select {
	case <-task.Done():
		_, err := task.Wait()
		t.Logf("ORDERED READ: %v", err)
	case <-time.After(5 * time.Second):
		t.Errorf("ORDERED READ from the network did not complete in 5s after the embedder's task without ReplyTo")
	}
	sync := s.Submit(0, []byte{0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0}, nil, 0)
	select {
	case <-sync.Done():
	case <-time.After(5 * time.Second):
		t.Errorf("SYNCHRONIZE CACHE did not complete in 5s")
	}
	s.Close()
	if err := svc.Stop(5 * time.Second); err != nil {
		t.Errorf("Stop: %v", err)
	}
}

// TestEmbedShortWriteReadBack: a WRITE(16) of 8 blocks with 1 block of data_out
// answers GOOD; what do blocks 1-7 hold?
func TestEmbedShortWriteReadBack(t *testing.T) {
	system := actor.NewActorSystem()
	defer system.Shutdown()
	svc, err := target.StartWith(baseConfig(t), hclog.NewNullLogger(), target.Options{System: system})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Stop(10 * time.Second)
	s := dial(t, svc.Addrs()[0], initiator.Options{Timeout: 5 * time.Second})
	ready(t, s, 0)
	old := bytes.Repeat([]byte{0xAA}, 8*blockSize)
	if err := s.Write(0, 0, old, blockSize, false); err != nil {
		t.Fatal(err)
	}
	answers, me := embedderReady(system, svc)
	system.Root.Send(svc.LUNActor(targetName, 0), &pb.ScsiTask{Itt: 1, Target: targetName, Lun: 0, Cdb: write16(0, 8), Write: true,
		ExpectedLength: 8 * blockSize, DataOut: bytes.Repeat([]byte{0x55}, blockSize), Nexus: "embedder", ReplyTo: pb.NewPid(me)})
	c := <-answers
	got, err := s.Read(0, 0, 8, blockSize)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("WRITE(16) 8 blocks with %d bytes of data: status 0x%02x; block 0 starts %x, block 1 %x, block 7 %x",
		blockSize, c.Status, got[0], got[blockSize], got[7*blockSize])
	if c.Status == 0 && !bytes.Equal(got[blockSize:], bytes.Repeat([]byte{0x55}, 7*blockSize)) {
		t.Errorf("GOOD for an 8-block WRITE that did not write blocks 1-7")
	}
	if c.Status != 0 && !bytes.Equal(got, old) {
		t.Errorf("a refused WRITE changed the LUN")
	}
}

// TestEmbedDoorAfterReAdd: a LUN removed and added again under the same id has a
// door that answers, although the old LUN actor's end may come after the new one
// opened its door.
func TestEmbedDoorAfterReAdd(t *testing.T) {
	system := actor.NewActorSystem()
	defer system.Shutdown()
	svc, err := target.StartWith(baseConfig(t), hclog.NewNullLogger(), target.Options{System: system})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Stop(10 * time.Second)
	answers := make(replier, 4)
	me := system.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return answers }))
	for i := 0; i < 10; i++ {
		if _, err := svc.AddLun(context.Background(), &pb.AddLunRequest{Target: targetName,
			Lun: &pb.Lun{Id: 5, Backend: "memory", SizeBytes: 1 << 20}}); err != nil {
			t.Fatal(err)
		}
		system.Root.Send(svc.LUNActor(targetName, 5), &pb.ScsiTask{Itt: uint32(i), Target: targetName, Lun: 5,
			Cdb: make([]byte, 6), Nexus: "embedder", ReplyTo: pb.NewPid(me)})
		select {
		case <-answers:
		case <-time.After(2 * time.Second):
			t.Fatalf("round %d: no answer from the re-added LUN's door", i)
		}
		// Force: the LUN answered a command just now, so it counts as in use.
		if _, err := svc.RemoveLun(context.Background(), &pb.RemoveLunRequest{Target: targetName, Id: 5, Force: true}); err != nil {
			t.Fatal(err)
		}
	}
}

// embedderReady spawns an embedder's reply actor and clears its nexus's power-on
// unit attention on LUN 0 (two TEST UNIT READYs), so that the next task meets none.
func embedderReady(system *actor.ActorSystem, svc *target.Service) (replier, *actor.PID) {
	answers := make(replier, 4)
	me := system.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return answers }))
	for i := 0; i < 2; i++ {
		system.Root.Send(svc.LUNActor(targetName, 0), &pb.ScsiTask{Itt: 100, Target: targetName, Lun: 0, Cdb: make([]byte, 6),
			Nexus: "embedder", ReplyTo: pb.NewPid(me)})
		<-answers
	}
	return answers, me
}
