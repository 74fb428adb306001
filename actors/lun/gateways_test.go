package lun

import (
	"testing"
	"time"

	"github.com/atgt/atgt/actors/gateway"
	"github.com/atgt/atgt/backend"
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/scsi"
)

// slowAck delays a node's acknowledgements, so that a test sees whether the
// announcer waits for them.
type slowAck struct {
	*gateway.Channel
	delay time.Duration
}

func (s slowAck) Attach(fn func(gateway.Notice, func())) {
	s.Channel.Attach(func(n gateway.Notice, ack func()) {
		fn(n, func() { time.Sleep(s.delay); ack() })
	})
}

// TestResetReachesOtherGateways: a LOGICAL UNIT RESET through node A leaves BUS
// DEVICE RESET FUNCTION OCCURRED for the initiators of node B too, and A answers the
// function only once B has it.
func TestResetReachesOtherGateways(t *testing.T) {
	hub := gateway.NewMemHub()
	chA, err := gateway.Open(hub.Bus(), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer chA.Close()
	chB, err := gateway.Open(hub.Bus(), 2)
	if err != nil {
		t.Fatal(err)
	}
	defer chB.Close()
	store := backend.NewMemory(1 << 20)
	a := newLUNHarness(t, store, func(c *Config) { c.Gateways = chA })
	defer a.sys.Shutdown()
	b := newLUNHarness(t, store, func(c *Config) { c.Gateways = slowAck{chB, 100 * time.Millisecond} })
	defer b.sys.Shutdown()

	start := time.Now()
	a.sys.Root.Send(a.lun, &pb.TaskManagement{Function: pb.TmfFunction_TMF_FUNCTION_LOGICAL_UNIT_RESET, Itt: 5,
		Target: "t", ReplyTo: pb.NewPid(a.conn), FanOut: 1})
	select {
	case d := <-a.tmfs:
		if d.Itt != 5 {
			t.Fatalf("answer %+v", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("LOGICAL UNIT RESET not answered")
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Fatalf("answered after %v, before node B acknowledged", d)
	}
	for i, h := range []*lunHarness{a, b} {
		h.send(h.task(uint32(100+i), make([]byte, 6), nil))
		m := h.wait(1)[uint32(100+i)]
		if m.Status != uint32(scsi.StatusCheckCondition) || m.Sense[12] != 0x29 || m.Sense[13] != 0x03 {
			t.Fatalf("node %d after the reset: status %d sense % x", i, m.Status, m.Sense)
		}
	}
}
