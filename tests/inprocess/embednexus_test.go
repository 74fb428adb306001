package inprocess

import (
	"bytes"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/go-hclog"

	"github.com/atgt/atgt/actors/target"
	pb "github.com/atgt/atgt/messages/atgtv1"
)

// TestEmbedNexusUnitAttention: as the README tells embedders, a task's nexus is its
// I_T nexus, and the first task of each new one is answered CHECK CONDITION, UNIT
// ATTENTION, POWER ON, RESET OR BUS DEVICE RESET OCCURRED (06/29/00, SAM-5 5.14),
// as an initiator's first command is; the same task again is served, and a second
// nexus sees its own unit attention once.
func TestEmbedNexusUnitAttention(t *testing.T) {
	sys := actor.NewActorSystem()
	defer sys.Shutdown()
	svc, err := target.StartWith(baseConfig(t), hclog.NewNullLogger(), target.Options{System: sys})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Stop(10 * time.Second)
	answers := make(replier, 4)
	me := sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return answers }))
	read := func(nexus string) *pb.ScsiCompletion {
		t.Helper()
		sys.Root.Send(svc.LUNActor(targetName, 0), &pb.ScsiTask{Itt: 1, Target: targetName, Cdb: read16(0, 1), Read: true,
			ExpectedLength: blockSize, Nexus: nexus, ReplyTo: pb.NewPid(me)})
		select {
		case c := <-answers:
			return c
		case <-time.After(5 * time.Second):
			t.Fatalf("no answer to %s's READ", nexus)
		}
		return nil
	}
	for _, nexus := range []string{"vm1", "vm2"} {
		c := read(nexus)
		if c.Status != 2 || len(c.Sense) < 14 || c.Sense[2]&0x0F != 6 || c.Sense[12] != 0x29 || c.Sense[13] != 0 {
			t.Errorf("%s's first READ: status %d sense %x; want UNIT ATTENTION 29/00", nexus, c.Status, c.Sense)
		}
		if c = read(nexus); c.Status != 0 || !bytes.Equal(c.DataIn, make([]byte, blockSize)) {
			t.Errorf("%s's READ again: status %d sense %x, %d bytes", nexus, c.Status, c.Sense, len(c.DataIn))
		}
	}
}
