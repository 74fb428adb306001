package inprocess

import (
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atgt/atgt/messages/iscsi"
	"github.com/atgt/atgt/tests/initiator"
)

// tmfFlood is one raw connection that sends immediate CLEAR TASK SETs for LUN 0 as
// fast as TCP takes them, and reads and counts the answers.
type tmfFlood struct {
	a             *initiator.Raw
	sent, answers atomic.Int64
	// other is the first answer that was not a Task Management Function Response
	// with response 0 (Function complete, RFC 7143 11.6.1), if any.
	other   chan string
	stop    chan struct{}
	done    chan struct{}
	hd, dd  bool
	nextITT uint32
	// scsiAnswd counts SCSI Responses and Data-In with status.
	scsiAnswd atomic.Int64
}

// newTMFFlood logs in a raw connection and starts reading its answers.
func newTMFFlood(t *testing.T, addr string, n int) *tmfFlood {
	t.Helper()
	a := dialRawSession(t, addr, initiator.Options{ISID: isid(n), Timeout: 10 * time.Second}).r // closed when the test ends
	f := &tmfFlood{a: a, other: make(chan string, 1), stop: make(chan struct{}), done: make(chan struct{}),
		hd: a.Params.HeaderDigest, dd: a.Params.DataDigest, nextITT: 1}
	go func() {
		lim := iscsi.Limits{MaxRecvDataSegmentLength: 1 << 24, HeaderDigest: f.hd, DataDigest: f.dd}
		for {
			var p iscsi.PDU
			if err := a.Reader.Read(lim, &p); err != nil {
				return
			}
			switch op := p.BHS.Opcode(); {
			case op == iscsi.OpTaskMgmtResp && p.BHS.Response() == iscsi.TMFRespComplete:
				f.answers.Add(1)
			case op == iscsi.OpSCSIResp, op == iscsi.OpDataIn && p.BHS.HasStatus():
				f.scsiAnswd.Add(1)
			case op == iscsi.OpNopIn:
			default:
				select {
				case f.other <- fmt.Sprintf("ITT %#x: opcode %#x response %d, want a Task Management Function Response 0 (Function complete)",
					p.BHS.ITT(), op, p.BHS.Response()):
				default:
				}
			}
		}
	}()
	return f
}

// send writes one batch of PDUs.
func (f *tmfFlood) send(ps ...*iscsi.PDU) error {
	var bufs net.Buffers
	for _, p := range ps {
		bufs = iscsi.AppendPDU(bufs, p, f.hd, f.dd)
	}
	_, err := bufs.WriteTo(f.a.Conn)
	return err
}

// run floods until end.
func (f *tmfFlood) run() {
	go func() {
		defer close(f.done)
		for {
			select {
			case <-f.stop:
				return
			default:
			}
			ps := make([]*iscsi.PDU, 512)
			for i := range ps {
				p := &iscsi.PDU{}
				h := &p.BHS
				h.SetOpcode(iscsi.OpTaskMgmtReq)
				h.SetImmediate(true)
				h.SetFinal(true)
				h.SetTMFFunction(iscsi.TMFClearTaskSet)
				h.SetITT(f.nextITT)
				f.nextITT++
				h.SetReferencedTaskTag(iscsi.ReservedTag)
				h.SetCmdSN(f.a.CmdSN)
				h.SetExpStatSN(f.a.ExpStatSN)
				ps[i] = p
			}
			if f.send(ps...) != nil {
				return
			}
			f.sent.Add(int64(len(ps)))
		}
	}()
}

// end stops the flood (a write the target's back-pressure holds ends at a deadline)
// and checks that every request it surely sent (all but the last batch, which may
// have gone in part) is answered Function complete within 5 s: each request is
// answered (RFC 7143 11.6), and what the target holds is bounded, so it catches up.
func (f *tmfFlood) end(t *testing.T) {
	t.Helper()
	close(f.stop)
	f.a.Conn.SetWriteDeadline(time.Now().Add(time.Second))
	<-f.done
	f.a.Conn.SetWriteDeadline(time.Time{})
	// The answers must keep coming until all are in: the target may take a while
	// for what the socket buffers held (hundreds of thousands of requests on a
	// loaded machine with -race), but it must not stop answering. Failing on a
	// fixed deadline failed a slow machine that was still answering.
	last, lastAt, deadline := f.answers.Load(), time.Now(), time.Now().Add(60*time.Second)
	for f.answers.Load() < f.sent.Load()-512 && time.Since(lastAt) < 5*time.Second && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		if a := f.answers.Load(); a != last {
			last, lastAt = a, time.Now()
		}
	}
	if n := f.sent.Load() - f.answers.Load(); n > 512 {
		t.Errorf("after the flood, %d of %d task management requests are unanswered (no answer for %v)",
			n, f.sent.Load(), time.Since(lastAt).Round(100*time.Millisecond))
	}
	select {
	case m := <-f.other:
		t.Error(m)
	default:
	}
}

// TestTMFFloodBounded: immediate task management requests skip the CmdSN window (RFC
// 7143 4.2.2.1), and a CLEAR TASK SET acts on the task set every I_T nexus shares
// (11.5.1, TST=000), so the target tells every other session. One connection that
// sends immediate CLEAR TASK SETs as fast as TCP takes them (reading and dropping
// the answers), with 254 other sessions logged in, must neither make the target
// hold work without bound (the heap grew by 118 to 321 MiB before each session
// had at most one abortOthers with the manager) nor delay another initiator's login
// (1.2 to 6.8 s before; the manager admits every login). Every request is still
// answered, Function complete (11.6.1): the target does not refuse them.
func TestTMFFloodBounded(t *testing.T) {
	svc := start(t, baseConfig(t), nil)
	addr := svc.Addrs()[0]
	const others = 254 // with the flood's and the new login: the per-address cap of 256
	for i := 0; i < others; i++ {
		dial(t, addr, initiator.Options{ISID: isid(4700 + i)})
	}
	f := newTMFFlood(t, addr, 4999)
	before := int64(liveHeap())
	f.run()
	time.Sleep(3 * time.Second)
	t0 := time.Now()
	s, err := initiator.Dial(addr, initiator.Options{ISID: isid(4998), InitiatorName: initiatorName,
		TargetName: targetName, Timeout: 60 * time.Second})
	loginTook := time.Since(t0)
	if err != nil {
		t.Fatalf("login during the flood: %v", err)
	}
	s.Close()
	during := int64(liveHeap()) - before
	t.Logf("%d other sessions; during the flood (%d CLEAR TASK SETs sent, %d answered): live heap %+d MiB; a new login took %v",
		others, f.sent.Load(), f.answers.Load(), during>>20, loginTook)
	if loginTook > 2*time.Second {
		t.Errorf("one connection's immediate CLEAR TASK SETs delayed another initiator's login by %v", loginTook)
	}
	if during > 64<<20 {
		t.Errorf("the target holds %d MiB more during one connection's flood of task management requests", during>>20)
	}
	f.end(t)
	t.Logf("flood over: %d sent, %d answered; live heap %+d MiB", f.sent.Load(), f.answers.Load(), (int64(liveHeap())-before)>>20)
}

// TestTMFFloodBehindHungTask: a task management function is answered only once the
// tasks it aborted have ended (RFC 7143 4.2.3.3); a LUN ends one that a backend
// call holds after its grace (2 s). Meanwhile the connection holds every function
// that aborts it again: without a limit on the functions outstanding, one
// connection with a READ on a slow disk and a stream of immediate CLEAR TASK SETs
// makes the target hold each of them (and a LUN's timer for each) until the grace
// ends. With the limit (cmdphase.MaxOutstandingTMFs) the reader stops reading until
// they are answered, and then every one is answered Function complete.
func TestTMFFloodBehindHungTask(t *testing.T) {
	const hungOff = 8 << 20
	hold := newOffsetHold(t, "read", hungOff)
	svc := start(t, baseConfig(t), hold.wrap(0))
	addr := svc.Addrs()[0]
	f := newTMFFlood(t, addr, 4997)
	ready := &iscsi.PDU{} // TEST UNIT READY clears the login's unit attention, if any
	ready.BHS.SetOpcode(iscsi.OpSCSICmd)
	ready.BHS.SetFinal(true)
	ready.BHS.SetTaskAttr(iscsi.TaskAttrSimple)
	ready.BHS.SetITT(0x7fff0001)
	ready.BHS.SetCmdSN(f.a.CmdSN)
	ready.BHS.SetExpStatSN(f.a.ExpStatSN)
	f.a.CmdSN++
	read := &iscsi.PDU{}
	h := &read.BHS
	h.SetOpcode(iscsi.OpSCSICmd)
	h.SetFinal(true)
	h.SetCmdRead(true)
	h.SetTaskAttr(iscsi.TaskAttrSimple)
	h.SetITT(0x7fff0002)
	h.SetExpectedDataTransferLength(4096)
	h.SetCmdSN(f.a.CmdSN)
	h.SetExpStatSN(f.a.ExpStatSN)
	f.a.CmdSN++
	copy(h.CDB(), read16(hungOff/blockSize, 8))
	if err := f.send(ready, read); err != nil {
		t.Fatal(err)
	}
	hold.waitHeld(t)
	before := int64(liveHeap())
	f.run()
	time.Sleep(1500 * time.Millisecond) // within the LUN's 2 s grace
	during := int64(liveHeap()) - before
	t.Logf("behind a hung READ, after 1.5 s: %d CLEAR TASK SETs sent, %d answered; live heap %+d MiB",
		f.sent.Load(), f.answers.Load(), during>>20)
	if during > 32<<20 {
		t.Errorf("the target holds %d MiB more for one connection's CLEAR TASK SETs waiting on a hung READ", during>>20)
	}
	f.end(t)
	t.Logf("flood over: %d sent, %d answered", f.sent.Load(), f.answers.Load())
	// The TEST UNIT READY is answered; the READ the functions aborted is not
	// (SAM-5: the asking I_T nexus's aborted commands end without status).
	if n := f.scsiAnswd.Load(); n != 1 {
		t.Errorf("%d SCSI commands answered, want 1 (the TEST UNIT READY, not the aborted READ)", n)
	}
	hold.open()
}
