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

// TestRejectedDataOutDoesNotHoldWriteBudget: the Data-Out timeout bounds how long a
// WRITE whose data never comes holds its share of maxWriteBufferMib. A Data-Out the
// target rejects (a DataSN out of sequence, RFC 7143 11.7.5; the rejected PDU is
// discarded, 11.17.1) carries none of what the initiator owes, so one such PDU every
// 250 ms must not keep the WRITE: its connection ends as a silent one's does, and
// another initiator's WRITE, TASK SET FULL while A holds the whole budget, runs.
func TestRejectedDataOutDoesNotHoldWriteBudget(t *testing.T) {
	for _, keepAlive := range []bool{false, true} {
		name := "silent"
		if keepAlive {
			name = "rejected Data-Out every 250ms"
		}
		t.Run(name, func(t *testing.T) { rejectedDataOut(t, keepAlive) })
	}
}

func rejectedDataOut(t *testing.T, keepAlive bool) {
	cfg := baseConfig(t)
	cfg.DataOutTimeoutSeconds = 1
	cfg.MaxWriteBufferMib = 4
	svc := start(t, cfg, nil)
	addr := svc.Addrs()[0]

	a := dialRawSession(t, addr, initiator.Options{ISID: isid(4500), Timeout: 10 * time.Second}).r // closed when the test ends
	const edtl = 4 << 20
	const itt = 0x4500
	cmd := &iscsi.PDU{}
	h := &cmd.BHS
	h.SetOpcode(iscsi.OpSCSICmd)
	h.SetFinal(true)
	h.SetCmdWrite(true)
	h.SetTaskAttr(iscsi.TaskAttrSimple)
	h.SetITT(itt)
	h.SetExpectedDataTransferLength(edtl)
	h.SetCmdSN(a.CmdSN)
	h.SetExpStatSN(a.ExpStatSN)
	copy(h.CDB(), write16(0, edtl/blockSize))
	bufs := iscsi.AppendPDU(nil, cmd, a.Params.HeaderDigest, a.Params.DataDigest)
	if _, err := bufs.WriteTo(a.Conn); err != nil {
		t.Fatal(err)
	}
	lim := iscsi.Limits{MaxRecvDataSegmentLength: 1 << 24, HeaderDigest: a.Params.HeaderDigest, DataDigest: a.Params.DataDigest}
	var r2t iscsi.PDU
	for {
		if err := a.Reader.Read(lim, &r2t); err != nil {
			t.Fatalf("waiting for an R2T: %v", err)
		}
		if r2t.BHS.Opcode() == iscsi.OpR2T {
			break
		}
	}
	ttt, off := r2t.BHS.TTT(), r2t.BHS.BufferOffset()
	closed := make(chan struct{})
	var rejects atomic.Int32
	go func() {
		defer close(closed)
		for {
			var p iscsi.PDU
			if err := a.Reader.Read(lim, &p); err != nil {
				return
			}
			if p.BHS.Opcode() == iscsi.OpReject {
				rejects.Add(1)
			}
		}
	}()
	stop := make(chan struct{})
	defer close(stop)
	if keepAlive {
		go func() {
			tick := time.NewTicker(250 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				d := &iscsi.PDU{}
				dh := &d.BHS
				dh.SetOpcode(iscsi.OpDataOut)
				dh.SetITT(itt)
				dh.SetTTT(ttt)
				dh.SetDataSN(0xffffffff) // out of sequence: rejected, nothing stored
				dh.SetBufferOffset(off)
				b := iscsi.AppendPDU(nil, d, a.Params.HeaderDigest, a.Params.DataDigest)
				if _, err := b.WriteTo(a.Conn); err != nil {
					return
				}
			}
		}()
	}

	b := dial(t, addr, initiator.Options{ISID: isid(4501)})
	ready(t, b, 0)
	var se *initiator.SCSIError
	if err := b.Write(0, 16384, randomData(4501, 4096), blockSize, false); !errors.As(err, &se) || se.Status != scsi.StatusTaskSetFull {
		t.Fatalf("B's WRITE while A's WRITE holds the whole write budget: %v; want TASK SET FULL", err)
	}
	// The Data-Out timeout ends A between 1.1 and 2.25 timeouts after its last
	// accepted Data-Out (here: the R2T, none).
	select {
	case <-closed:
	case <-time.After(6 * time.Second):
		t.Fatalf("A's connection still open 6 Data-Out timeouts after its R2T, with no data sent (%d Rejects received)", rejects.Load())
	}
	if keepAlive && rejects.Load() == 0 {
		t.Errorf("no Reject for the out-of-sequence Data-Outs: the test did not send what it means to")
	}
	if err := b.Write(0, 16384, randomData(4502, 4096), blockSize, false); err != nil {
		t.Errorf("B's WRITE once A's connection ended: %v", err)
	}
}
