package inprocess

import (
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/atgt/atgt/messages/iscsi"
	"github.com/atgt/atgt/tests/initiator"
)

// TestHeldNopDataIsBounded: non-immediate NOP-Outs with CmdSNs past a hole each
// carry up to the target's MaxRecvDataSegmentLength of ping data (RFC 7143 11.18),
// which the target keeps until their turn (4.2.2.1) to echo it. That data counts as
// write data against maxWriteBufferMib (4 MiB here): beyond it a NOP-Out is rejected
// (11.17.1, 0x0a, out of resources) and its CmdSN taken, so 4 connections that each
// send 127 NOP-Outs of 256 KiB behind a hole (127 MiB) make the target hold about
// 4 MiB, not all of it; and the hole timeout (the Data-Out timeout) ends them.
func TestHeldNopDataIsBounded(t *testing.T) {
	cfg := baseConfig(t)
	cfg.MaxWriteBufferMib = 4
	cfg.DataOutTimeoutSeconds = 3
	svc := start(t, cfg, nil)
	const conns = 4
	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	before := heap()
	var raws []*initiator.Raw
	var windows, segs []int
	total := 0
	for c := 0; c < conns; c++ {
		r, err := initiator.DialRaw(svc.Addrs()[0], initiator.Options{ISID: isid(4400 + c), InitiatorName: initiatorName, TargetName: targetName, Timeout: 10 * time.Second})
		if err != nil {
			t.Fatalf("login: %v", err)
		}
		defer r.Conn.Close()
		raws = append(raws, r)
		seg := int(r.Params.MaxXmitDataSegmentLength)
		if seg == 0 {
			seg = 262144
		}
		window := int(r.MaxCmdSN - r.CmdSN) // CmdSN .. MaxCmdSN
		windows, segs = append(windows, window), append(segs, seg)
		data := make([]byte, seg)
		var out net.Buffers
		// Skip r.CmdSN: the hole. Fill the rest of the window.
		for i := 1; i <= window; i++ {
			p := &iscsi.PDU{Data: data}
			h := &p.BHS
			h.SetOpcode(iscsi.OpNopOut)
			h.SetFinal(true)
			h.SetITT(uint32(0x1000 + i))
			h.SetTTT(0xffffffff)
			h.SetCmdSN(r.CmdSN + uint32(i))
			h.SetExpStatSN(r.ExpStatSN)
			out = iscsi.AppendPDU(out, p, r.Params.HeaderDigest, r.Params.DataDigest)
			total += seg
		}
		if _, err := out.WriteTo(r.Conn); err != nil {
			t.Fatalf("write: %v", err)
		}
	}
	time.Sleep(time.Second)
	grown := int64(heap()) - int64(before)
	t.Logf("sent %d MiB of ping data behind a hole on %d connections; live heap grew by %d MiB", total>>20, conns, grown>>20)
	if grown > 16<<20 {
		t.Errorf("the target holds %d MiB for %d connections' NOP-Out data behind a CmdSN hole; the write budget is 4 MiB",
			grown>>20, conns)
	}
	// Each connection holds what the budget let it; one that holds a NOP-Out ends
	// by the hole timeout, one whose NOP-Outs were all refused holds nothing.
	start := time.Now()
	type result struct {
		rejects int
		closed  bool
	}
	results := make([]result, conns)
	var wg sync.WaitGroup
	for i, r := range raws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.Conn.SetReadDeadline(start.Add(5 * time.Second))
			for {
				var p iscsi.PDU
				if err := r.Reader.Read(iscsi.Limits{MaxRecvDataSegmentLength: 1 << 24}, &p); err != nil {
					ne, ok := err.(net.Error)
					results[i].closed = !ok || !ne.Timeout()
					return
				}
				if p.BHS.Opcode() == iscsi.OpReject && p.BHS.Response() == iscsi.RejectLongOp {
					results[i].rejects++
				}
			}
		}()
	}
	wg.Wait()
	held := 0
	for i, res := range results {
		rejects, closed := res.rejects, res.closed
		kept := windows[i] - rejects
		held += kept * segs[i]
		t.Logf("conn %d: %d NOP-Outs held, %d rejected (out of resources); closed: %v", i, kept, rejects, closed)
		if kept > 0 && !closed {
			t.Errorf("conn %d: still open 6 s after %d NOP-Outs began to wait behind a hole (Data-Out timeout 3 s)", i, kept)
		}
	}
	if held > 4<<20 {
		t.Errorf("the target held %d KiB of NOP-Out data behind CmdSN holes; the write budget is 4 MiB", held>>10)
	}
	if held == 0 {
		t.Errorf("no NOP-Out was held: the test shows nothing")
	}
}

// TestReadBehindHoleChargesMaxTransfer: a READ counts against the Data-In budgets
// for at most the LUNs' maximum transfer (4 MiB), what the target will ever send
// for one command; its EDTL may be larger than what the CDB moves (RFC 7143
// 11.4.5.1). One READ of one block with an EDTL of 60 MiB, held behind a CmdSN
// hole, held 60 MiB of a 16 MiB maxReadBufferMib; and once the hole timeout ends
// the connection it holds nothing.
func TestReadBehindHoleChargesMaxTransfer(t *testing.T) {
	cfg := baseConfig(t)
	cfg.MaxReadBufferMib = 16
	cfg.DataOutTimeoutSeconds = 2
	svc := start(t, cfg, nil)
	addr := svc.Addrs()[0]
	a := dialRawSession(t, addr, initiator.Options{ISID: isid(4900), Timeout: 10 * time.Second}).r // closed when the test ends
	p := &iscsi.PDU{}
	h := &p.BHS
	h.SetOpcode(iscsi.OpSCSICmd)
	h.SetFinal(true)
	h.SetCmdRead(true)
	h.SetTaskAttr(iscsi.TaskAttrSimple)
	h.SetITT(0x4900)
	h.SetExpectedDataTransferLength(60 << 20)
	h.SetCmdSN(a.CmdSN + 1) // a.CmdSN never comes
	copy(h.CDB(), read16(0, 1))
	b := iscsi.AppendPDU(nil, p, a.Params.HeaderDigest, a.Params.DataDigest)
	if _, err := b.WriteTo(a.Conn); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	held := gather(t, svc.Metrics()).value(t, "atgt_data_in_held_bytes", nil)
	t.Logf("READ of one block with EDTL 60 MiB behind a hole: atgt_data_in_held_bytes %.0f", held)
	if held <= 0 || held > 4<<20 {
		t.Errorf("one READ behind a CmdSN hole holds %.0f bytes of the Data-In budget; want at most the 4 MiB maximum transfer", held)
	}
	a.Conn.SetReadDeadline(time.Now().Add(6 * time.Second))
	for {
		var r iscsi.PDU
		if err := a.Reader.Read(iscsi.Limits{MaxRecvDataSegmentLength: 1 << 24}, &r); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("the connection is still open 6 s after its READ began to wait behind a hole")
			}
			break
		}
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		held = gather(t, svc.Metrics()).value(t, "atgt_data_in_held_bytes", nil)
		if held == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if held != 0 {
		t.Errorf("atgt_data_in_held_bytes %.0f after the connection ended", held)
	}
}
