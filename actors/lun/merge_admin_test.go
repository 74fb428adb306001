package lun

import (
	"testing"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/atgt/atgt/backend"
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/scsi"
)

// TestMergeRunNotHeldByAdminMessage: adjacent READs held back for merging while
// more messages wait are sent once the mailbox is empty. When the last message
// of the burst is one that Receive handles before its switch (an administrator's
// UnitAttention, Resize, Drain, Unretire; a command refused by an offline or
// retired LUN), the run must still go to a worker at the end of that turn:
// nothing else may come to the LUN (no watchdog without ioTimeout, an initiator
// waiting for these very READs), so the READs were never answered.
func TestMergeRunNotHeldByAdminMessage(t *testing.T) {
	for _, c := range []struct {
		name string
		msg  func() any
	}{
		{"UnitAttention", func() any { return &UnitAttention{Sense: scsi.CapacityDataChanged()} }},
		{"Unretire", func() any { return &Unretire{} }},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newLUNHarness(t, backend.NewMemory(1<<20))
			var tasks []*pb.ScsiTask
			for i, lba := range []uint32{0, 8, 16} {
				tk := h.task(uint32(10+i), read10(lba, 8), nil)
				tk.Read, tk.ExpectedLength = true, 4096
				tasks = append(tasks, tk)
			}
			proc, ok := h.sys.ProcessRegistry.Get(h.lun)
			if !ok {
				t.Fatal("LUN actor not registered")
			}
			proc.SendSystemMessage(h.lun, &actor.SuspendMailbox{})
			for _, tk := range tasks {
				h.send(tk)
			}
			h.sys.Root.Send(h.lun, c.msg())
			proc.SendSystemMessage(h.lun, &actor.ResumeMailbox{})
			for itt, m := range h.wait(len(tasks)) {
				if m.Status != uint32(scsi.StatusGood) {
					t.Fatalf("READ %d: status %#x", itt, m.Status)
				}
			}
		})
	}
}
