package inprocess

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atgt/atgt/messages/iscsi"
	"github.com/atgt/atgt/messages/scsi"
	"github.com/atgt/atgt/tests/initiator"
)

// TestCmdSNHoleReleasesWriteBudget: a WRITE behind a CmdSN hole takes its share of
// the target-wide write budget when it arrives but owes no Data-Out until its turn
// (no R2T goes out before it, RFC 7143 4.2.2.1), so the Data-Out timeout never saw
// it, and the connection stayed up answering NOP-In. The target cannot act on a
// command past a hole and the initiator is expected to send the missing one again
// (3.2.2.1), so the wait is bounded: a request that waited behind a hole for the
// whole Data-Out timeout ends the connection, not before, and its budget is free.
// Here one 4 MiB WRITE that carries no data holds the whole 4 MiB budget: another
// initiator's WRITE is TASK SET FULL until then, and runs after.
func TestCmdSNHoleReleasesWriteBudget(t *testing.T) {
	cfg := baseConfig(t)
	cfg.DataOutTimeoutSeconds = 2
	cfg.MaxWriteBufferMib = 4
	cfg.NopIntervalSeconds = 1
	cfg.NopTimeoutSeconds = 1
	svc := start(t, cfg, nil)
	addr := svc.Addrs()[0]

	a := dialRawSession(t, addr, initiator.Options{ISID: isid(4600), Timeout: 10 * time.Second}).r // closed when the test ends
	hd, dd := a.Params.HeaderDigest, a.Params.DataDigest
	const edtl = 4 << 20
	cmd := &iscsi.PDU{}
	h := &cmd.BHS
	h.SetOpcode(iscsi.OpSCSICmd)
	h.SetFinal(true)
	h.SetCmdWrite(true)
	h.SetTaskAttr(iscsi.TaskAttrSimple)
	h.SetITT(0x4600)
	h.SetExpectedDataTransferLength(edtl)
	h.SetCmdSN(a.CmdSN + 1) // a.CmdSN is never sent: the hole
	h.SetExpStatSN(a.ExpStatSN)
	copy(h.CDB(), write16(0, edtl/blockSize))
	bufs := iscsi.AppendPDU(nil, cmd, hd, dd)
	sent := time.Now()
	if _, err := bufs.WriteTo(a.Conn); err != nil {
		t.Fatal(err)
	}
	// A answers the target's NOP-In pings, as any live initiator does.
	closedAt := make(chan time.Time, 1)
	var pings atomic.Int32
	go func() {
		lim := iscsi.Limits{MaxRecvDataSegmentLength: 1 << 24, HeaderDigest: hd, DataDigest: dd}
		for {
			var p iscsi.PDU
			if err := a.Reader.Read(lim, &p); err != nil {
				closedAt <- time.Now()
				return
			}
			if p.BHS.Opcode() == iscsi.OpNopIn && p.BHS.TTT() != 0xffffffff {
				pings.Add(1)
				n := &iscsi.PDU{}
				nh := &n.BHS
				nh.SetOpcode(iscsi.OpNopOut)
				nh.SetImmediate(true)
				nh.SetFinal(true)
				nh.SetITT(0xffffffff)
				nh.SetTTT(p.BHS.TTT())
				nh.SetLUN(p.BHS.LUN())
				nh.SetCmdSN(a.CmdSN + 2)
				b := iscsi.AppendPDU(nil, n, hd, dd)
				b.WriteTo(a.Conn)
			}
		}
	}()

	b := dial(t, addr, initiator.Options{ISID: isid(4601)})
	ready(t, b, 0)
	// A's WRITE takes the budget once the target has read it: until then B's
	// WRITEs may still run (on a loaded machine B logs in first).
	for {
		var se *initiator.SCSIError
		err := b.Write(0, 16384, randomData(4601, 4096), blockSize, false)
		if errors.As(err, &se) && se.Status == scsi.StatusTaskSetFull {
			break
		}
		if err != nil || time.Since(sent) > 1500*time.Millisecond {
			t.Fatalf("B's WRITE %v after A's WRITE, which holds the whole write budget: %v; want TASK SET FULL",
				time.Since(sent).Round(time.Millisecond), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	var at time.Time
	select {
	case at = <-closedAt:
	case <-time.After(12 * time.Second):
		t.Fatalf("A's connection, with a WRITE behind a CmdSN hole, still open after 6 Data-Out timeouts (%d NOP-In pings answered)", pings.Load())
	}
	waited := at.Sub(sent)
	t.Logf("A closed %v after its WRITE behind the hole (%d pings answered)", waited.Round(time.Millisecond), pings.Load())
	if waited < 1900*time.Millisecond {
		t.Errorf("A closed %v after its WRITE began to wait, before the 2 s Data-Out timeout", waited)
	}
	if pings.Load() == 0 {
		t.Errorf("A answered no NOP-In before it was closed: the test shows no live initiator")
	}
	if err := b.Write(0, 16384, randomData(4602, 4096), blockSize, false); err != nil {
		t.Fatalf("B's WRITE once A's connection ended: %v", err)
	}
	gather(t, svc.Metrics()).want(t, "atgt_logouts_total", map[string]string{"kind": "abnormal"}, 1)
}

// TestCmdSNHoleFilledInTimeKeepsConnection: holes that the initiator fills within
// the Data-Out timeout, one after another for longer than the timeout in all, and
// a pipeline in CmdSN order, never end the connection: no request waited behind a
// hole for the whole timeout. The initiator fills each hole with an ABORT TASK
// naming the missing CmdSN (RFC 7143 11.5.1 b), as after a lost command.
func TestCmdSNHoleFilledInTimeKeepsConnection(t *testing.T) {
	cfg := baseConfig(t)
	cfg.DataOutTimeoutSeconds = 1
	svc := start(t, cfg, nil)
	s := dial(t, svc.Addrs()[0], initiator.Options{ISID: isid(4700)})
	ready(t, s, 0)
	for i := uint32(0); i < 4; i++ {
		lost := s.SkipCmdSN()
		task := s.Submit(0, read16(uint64(i)*8, 8), nil, 8*blockSize) // waits behind the hole
		time.Sleep(600 * time.Millisecond)
		if resp, err := s.TaskMgmtRef(iscsi.TMFAbortTask, 0, 0x7400_0000+i, lost); err != nil || resp != iscsi.TMFRespComplete {
			t.Fatalf("round %d: ABORT TASK of the lost CmdSN: response %d, %v; want Function complete", i, resp, err)
		}
		if _, err := task.Wait(); err != nil {
			t.Fatalf("round %d: the READ behind a hole filled after 0.6 s: %v", i, err)
		}
	}
	// A pipeline for over two timeouts: commands in CmdSN order never wait.
	end := time.Now().Add(2500 * time.Millisecond)
	for n := 0; time.Now().Before(end); n++ {
		var tasks []*initiator.Task
		for q := 0; q < 8; q++ {
			tasks = append(tasks, s.Submit(0, read16(uint64(q)*8, 8), nil, 8*blockSize))
		}
		for _, tk := range tasks {
			if _, err := tk.Wait(); err != nil {
				t.Fatalf("pipeline batch %d: %v", n, err)
			}
		}
	}
	if err := s.Nop([]byte("still here")); err != nil {
		t.Fatalf("the connection ended: %v", err)
	}
}

// TestCmdSNHoleTimeoutCountsEachRequestsWait: the timeout counts how long each
// request waits, not how long ExpCmdSN stands still, so an initiator that fills the
// lowest hole in time while leaving the next one open cannot keep a request (and
// what it holds) waiting for longer: here two CmdSNs are missing, the first is
// filled after 60% of the timeout, and the READ behind both has still waited the
// whole timeout when the check comes, although ExpCmdSN moved.
func TestCmdSNHoleTimeoutCountsEachRequestsWait(t *testing.T) {
	cfg := baseConfig(t)
	cfg.DataOutTimeoutSeconds = 2
	svc := start(t, cfg, nil)
	s := dial(t, svc.Addrs()[0], initiator.Options{ISID: isid(4800)})
	ready(t, s, 0)
	first := s.SkipCmdSN()
	s.SkipCmdSN()
	sent := time.Now()
	task := s.Submit(0, read16(0, 8), nil, 8*blockSize)
	time.Sleep(1200 * time.Millisecond)
	if resp, err := s.TaskMgmtRef(iscsi.TMFAbortTask, 0, 0x7480_0001, first); err != nil || resp != iscsi.TMFRespComplete {
		t.Fatalf("ABORT TASK of the first lost CmdSN: response %d, %v; want Function complete", resp, err)
	}
	select {
	case <-s.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the connection is still open 6 s after a READ began to wait behind two holes")
	}
	waited := time.Since(sent)
	if _, err := task.Wait(); err == nil {
		t.Fatal("the READ behind the open hole completed")
	}
	t.Logf("closed about %v after the READ began to wait", waited.Round(100*time.Millisecond))
	if waited > 3200*time.Millisecond {
		t.Errorf("closed %v after the READ began to wait: ExpCmdSN's move restarted the count", waited)
	}
}
