package inprocess

import (
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/atgt/atgt/messages/iscsi"
	"github.com/atgt/atgt/messages/scsi"
	"github.com/atgt/atgt/tests/initiator"
)

// liveHeap is the live heap after two collections (the pool's buffers let go).
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestPinnedWriteDataIsReleased: a logged-in initiator that answers every NOP-In
// ping but never sends the last Data-Out PDU of its WRITEs must not make the target
// hold their write data for as long as it likes. A WRITE beyond the LUN's maximum
// transfer is refused before its data comes; the others hold at most the
// connection's bound, and the Data-Out timeout drops the connection, which frees
// it all.
func TestPinnedWriteDataIsReleased(t *testing.T) {
	cfg := baseConfig(t)
	cfg.Targets[0].Luns[0].SizeBytes = 64 << 20
	cfg.NopIntervalSeconds = 1
	cfg.NopTimeoutSeconds = 1
	cfg.DataOutTimeoutSeconds = 2
	svc := start(t, cfg, nil)
	addr := svc.Addrs()[0]
	base := liveHeap()

	r, err := initiator.DialRaw(addr, initiator.Options{InitiatorName: initiatorName, TargetName: targetName,
		ISID: isid(900), ImmediateData: initiator.Bool(false), InitialR2T: initiator.Bool(true),
		MaxBurstLength: 1 << 20, MaxOutstandingR2T: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Conn.Close()
	seg := r.Params.MaxXmitDataSegmentLength
	lim := iscsi.Limits{MaxRecvDataSegmentLength: r.Params.MaxRecvDataSegmentLength}
	send := func(p *iscsi.PDU) error {
		p.BHS.SetExpStatSN(r.ExpStatSN)
		var bufs net.Buffers
		bufs = iscsi.AppendPDU(bufs, p, false, false)
		_, err := bufs.WriteTo(r.Conn)
		return err
	}
	write := func(itt, edtl uint32) {
		p := &iscsi.PDU{}
		h := &p.BHS
		h.SetOpcode(iscsi.OpSCSICmd)
		h.SetTaskAttr(iscsi.TaskAttrSimple)
		h.SetFinal(true)
		h.SetCmdWrite(true)
		h.SetLUN(scsi.EncodeLUN(0))
		h.SetITT(itt)
		h.SetExpectedDataTransferLength(edtl)
		h.SetCmdSN(r.CmdSN)
		r.CmdSN++
		cdb := h.CDB()
		cdb[0] = 0x8a
		blocks := edtl / blockSize
		cdb[10], cdb[11], cdb[12], cdb[13] = byte(blocks>>24), byte(blocks>>16), byte(blocks>>8), byte(blocks)
		if err := send(p); err != nil {
			t.Fatalf("write: %v", err)
		}
	}
	const big, edtl, tasks = 16 << 20, 4 << 20, 40
	write(99, big) // beyond the LUN's maximum transfer
	for i := 0; i < tasks; i++ {
		write(uint32(100+i), edtl)
	}
	// Answer R2Ts (all but the last PDU of each task's data) and pings.
	data := make([]byte, seg)
	bigRefused := false
	var peak uint64
	var closedAfter time.Duration
	begin := time.Now()
	lastSample := begin
	for time.Since(begin) < 12*time.Second {
		if time.Since(lastSample) > 500*time.Millisecond {
			lastSample = time.Now()
			peak = max(peak, liveHeap())
		}
		r.Conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		var in iscsi.PDU
		if err := r.Reader.Read(lim, &in); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				continue
			}
			closedAfter = time.Since(begin)
			break // the target dropped the connection
		}
		h := &in.BHS
		switch h.Opcode() {
		case iscsi.OpSCSIResp:
			r.ExpStatSN = h.StatSN() + 1
			if h.ITT() == 99 && h.Status() == uint8(scsi.StatusCheckCondition) {
				bigRefused = true
			}
		case iscsi.OpNopIn:
			if h.ITT() == iscsi.ReservedTag {
				p := &iscsi.PDU{}
				p.BHS.SetOpcode(iscsi.OpNopOut)
				p.BHS.SetImmediate(true)
				p.BHS.SetFinal(true)
				p.BHS.SetITT(iscsi.ReservedTag)
				p.BHS.SetTTT(h.TTT())
				p.BHS.SetCmdSN(r.CmdSN)
				send(p)
			}
		case iscsi.OpR2T:
			off, n := h.BufferOffset(), h.DesiredDataTransferLength()
			var dsn uint32
			for o := off; o < off+n; o += seg {
				l := min(seg, off+n-o)
				if off+n == edtl && o+l == off+n {
					break // the last PDU never comes
				}
				p := &iscsi.PDU{Data: data[:l]}
				p.BHS.SetOpcode(iscsi.OpDataOut)
				p.BHS.SetFinal(o+l == off+n)
				p.BHS.SetLUN(h.LUN())
				p.BHS.SetITT(h.ITT())
				p.BHS.SetTTT(h.TTT())
				p.BHS.SetDataSN(dsn)
				p.BHS.SetBufferOffset(o)
				dsn++
				send(p)
			}
		}
	}
	if !bigRefused {
		t.Errorf("a %d MiB WRITE (the LUN takes at most 4 MiB) was not refused at once", big>>20)
	}
	if closedAfter == 0 {
		t.Errorf("the connection was not dropped in %v though its initiator withheld Data-Out (timeout 2 s)", time.Since(begin).Round(time.Second))
	}
	r.Conn.Close()
	var after uint64
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if after = liveHeap(); after < base+32<<20 {
			break
		}
	}
	t.Logf("heap %d MiB before, peak %d MiB, %d MiB after the drop (%v)", base>>20, peak>>20, after>>20, closedAfter.Round(100*time.Millisecond))
	if peak > base+160<<20 {
		t.Errorf("one connection made the target hold %d MiB of write data (its bound is 128 MiB)", (peak-base)>>20)
	}
	if after > base+32<<20 {
		t.Errorf("%d MiB of write data still held after the connection was dropped", (after-base)>>20)
	}
}
