package lun

import (
	"bytes"
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
	chA, chB := twoGateways(t)
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

// TestResetAbortsOtherGatewaysTasks: a LOGICAL UNIT RESET through node A aborts the
// task set on node B too (one logical unit, one task set): B's write waiting behind
// an ORDERED barrier never reaches the store, and A answers the function only once
// B's call in progress has returned.
func TestResetAbortsOtherGatewaysTasks(t *testing.T) {
	chA, chB := twoGateways(t)
	hb := newHoldBackend(t)
	a := newLUNHarness(t, hb.Backend, func(c *Config) { c.Gateways = chA })
	defer a.sys.Shutdown()
	b := newLUNHarness(t, hb, func(c *Config) { c.Gateways = chB })
	defer b.sys.Shutdown()

	release := hb.hold("write", 0)
	b.send(b.task(1, write10(0, 1, false), bytes.Repeat([]byte{0x11}, 512)))
	hb.waitHeld(t, "write@0")
	w2 := b.task(2, write10(8, 1, false), bytes.Repeat([]byte{0x22}, 512))
	w2.Attribute = pb.TaskAttribute_TASK_ATTRIBUTE_ORDERED
	b.send(w2)
	time.Sleep(20 * time.Millisecond)

	start := time.Now()
	a.sys.Root.Send(a.lun, &pb.TaskManagement{Function: pb.TmfFunction_TMF_FUNCTION_LOGICAL_UNIT_RESET, Itt: 5,
		Target: "t", ReplyTo: pb.NewPid(a.conn), FanOut: 1})
	time.AfterFunc(200*time.Millisecond, release)
	select {
	case <-a.tmfs:
	case <-time.After(5 * time.Second):
		t.Fatal("LOGICAL UNIT RESET not answered")
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Fatalf("answered after %v, before node B's write in progress returned", d)
	}
	got := b.wait(2)
	if got[2].Status != uint32(scsi.StatusCheckCondition) {
		t.Fatalf("B's queued write: status %d, want CHECK CONDITION (aborted)", got[2].Status)
	}
	time.Sleep(50 * time.Millisecond)
	p := make([]byte, 512)
	if _, err := hb.Backend.ReadAt(p, 8*512); err != nil {
		t.Fatal(err)
	}
	if p[0] != 0 {
		t.Fatalf("B's write of the aborted task set landed after the reset: % x", p[:4])
	}
}

// twoGateways opens the event channels of nodes 1 and 2 on one in-memory bus,
// closed at the test's end.
func twoGateways(t *testing.T) (a, b *gateway.Channel) {
	t.Helper()
	hub := gateway.NewMemHub()
	var err error
	if a, err = gateway.Open(hub.Bus(), 1); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	if b, err = gateway.Open(hub.Bus(), 2); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return a, b
}
