package conn

import (
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/atgt/atgt/actors/cmdphase"
	"github.com/atgt/atgt/actors/trace"
	"github.com/atgt/atgt/messages/iscsi"
)

// TestReaderBoundsTMFs: immediate task management requests skip the CmdSN window
// (RFC 7143 4.2.2.1), and the initiator need not wait for one's response (11.6)
// before it sends the next. The reader parses at most cmdphase.MaxOutstandingTMFs
// of them that the connection has not answered, then reads no more (TCP pushes
// back on the initiator) until answers make room, and then only as many as there
// is room for.
func TestReaderBoundsTMFs(t *testing.T) {
	sys := quietSystem()
	defer sys.Shutdown()
	fl := newFlow()
	var got atomic.Int64 // task management requests delivered to the actor
	self := sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		var items []*pduIn
		switch m := ctx.Message().(type) {
		case *pduIn:
			items = []*pduIn{m}
		case *pduBatch:
			items = m.items
		default:
			return
		}
		for _, in := range items {
			if in.p.BHS.Opcode() == iscsi.OpTaskMgmtReq {
				got.Add(1)
			}
		}
		fl.taken()
	}))
	a, b := net.Pipe()
	defer b.Close()
	steps := make(chan readerStep, 1)
	go readLoop(a, sys.Root, self, steps, fl, readerBuffer, new(atomic.Pointer[trace.Conn]), 0, nil)
	tmf := func(itt uint32) *iscsi.PDU {
		p := &iscsi.PDU{}
		h := &p.BHS
		h.SetOpcode(iscsi.OpTaskMgmtReq)
		h.SetImmediate(true)
		h.SetFinal(true)
		h.SetTMFFunction(iscsi.TMFClearTaskSet)
		h.SetITT(itt)
		h.SetReferencedTaskTag(iscsi.ReservedTag)
		return p
	}
	// The login phase's one PDU (the reader then waits for its step), then the
	// full feature phase.
	var login net.Buffers
	login = iscsi.AppendPDU(login, &iscsi.PDU{}, false, false)
	if _, err := login.WriteTo(b); err != nil { // a pipe: returns once read
		t.Fatal(err)
	}
	steps <- readerStep{lim: iscsi.LoginLimits, ffp: true}
	const n = 200
	go func() {
		var bufs net.Buffers
		for i := uint32(1); i <= n; i++ {
			bufs = iscsi.AppendPDU(bufs, tmf(i), false, false)
		}
		bufs.WriteTo(b)
	}()
	settle := func(answered, want int64) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for got.Load() < want && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(100 * time.Millisecond) // and no more come
		if g := got.Load(); g != want {
			t.Fatalf("the reader delivered %d task management requests once %d were answered, want %d (bound %d outstanding)",
				g, answered, want, cmdphase.MaxOutstandingTMFs)
		}
	}
	settle(0, cmdphase.MaxOutstandingTMFs)
	// The actor answers 10 of them (publishTMFs).
	fl.addTMFs(-10)
	settle(10, cmdphase.MaxOutstandingTMFs+10)
	fl.closed()
}
