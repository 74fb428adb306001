package trace

import (
	"runtime"
	"testing"
	"weak"

	pb "github.com/atgt/atgt/messages/atgtv1"
)

// TestFlightKeepsNoWriteData: the flight recorder's ring keeps what Recent shows of
// a task, not the task: its write data (pooled buffers that sync.Pool frees at GC)
// does not stay live in the ring.
func TestFlightKeepsNoWriteData(t *testing.T) {
	f := NewFlight("iqn.t", 0, 64, 2, nil)
	var refs []weak.Pointer[[1 << 20]byte]
	for i := 0; i < 8; i++ {
		buf := new([1 << 20]byte)
		refs = append(refs, weak.Make(buf))
		task := &pb.ScsiTask{Itt: uint32(i), Cdb: []byte{0x8A}, Write: true, DataOut: buf[:],
			DataOutParts: [][]byte{buf[:512]}, Nexus: "iqn.i,i,0x1", ArrivedNanos: 1, IoEndNanos: 2}
		f.Done(i%2, task, 0, nil, 3, ActorWorker, "w")
	}
	for range 3 {
		runtime.GC()
	}
	live := 0
	for _, r := range refs {
		if r.Value() != nil {
			live++
		}
	}
	if live != 0 {
		t.Errorf("%d of 8 finished tasks' 1 MiB write buffers still live through the flight recorder", live)
	}
	rec := f.Recent()
	if len(rec) != 8 || rec[0].ID.Initiator != "iqn.i" || rec[0].ID.Opcode != 0x8A {
		t.Errorf("Recent after the change: %d timelines, first %+v", len(rec), rec[0].ID)
	}
}

// TestSafeText: a name with a newline or an escape is quoted for the log; a plain
// one is left as it is.
func TestSafeText(t *testing.T) {
	if got := safeText("iqn.2026-01.x:y"); got != "iqn.2026-01.x:y" {
		t.Errorf("plain name changed: %q", got)
	}
	if got := safeText("iqn.x\n2026 [ERROR] forged\x1b[2J"); got != `"iqn.x\n2026 [ERROR] forged\x1b[2J"` {
		t.Errorf("name with control characters logged as %q", got)
	}
}
