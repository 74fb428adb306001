package inprocess

import (
	"net"
	"testing"
	"time"

	"github.com/atgt/atgt/messages/iscsi"
	"github.com/atgt/atgt/messages/scsi"
	"github.com/atgt/atgt/tests/initiator"
)

// stalledReader sends n READs of 4 MiB in one TCP write (immediate ones if imm)
// and never reads an answer: the target must hold a bounded amount for it (the
// Data-In a connection may owe, 64 MiB, not n x 4 MiB), and let go of it all once
// the connection ends.
func stalledReader(t *testing.T, n int, imm bool) {
	cfg := baseConfig(t)
	cfg.WriteTimeoutSeconds = 5
	svc := start(t, cfg, nil)
	addr := svc.Addrs()[0]
	base := liveHeap()
	r, err := initiator.DialRaw(addr, initiator.Options{InitiatorName: initiatorName, TargetName: targetName, ISID: isid(901)})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Conn.Close()
	if tc, ok := r.Conn.(*net.TCPConn); ok {
		tc.SetReadBuffer(4096)
	}
	const xfer = 4 << 20
	var bufs net.Buffers
	for i := 0; i < n; i++ {
		p := &iscsi.PDU{}
		h := &p.BHS
		h.SetOpcode(iscsi.OpSCSICmd)
		h.SetTaskAttr(iscsi.TaskAttrSimple)
		h.SetFinal(true)
		h.SetCmdRead(true)
		h.SetImmediate(imm)
		h.SetLUN(scsi.EncodeLUN(0))
		h.SetITT(uint32(100 + i))
		h.SetExpectedDataTransferLength(xfer)
		h.SetCmdSN(r.CmdSN)
		h.SetExpStatSN(r.ExpStatSN)
		if !imm {
			r.CmdSN++
		}
		cdb := h.CDB()
		cdb[0] = 0x88
		blocks := uint32(xfer / blockSize)
		cdb[10], cdb[11], cdb[12], cdb[13] = byte(blocks>>24), byte(blocks>>16), byte(blocks>>8), byte(blocks)
		bufs = iscsi.AppendPDU(bufs, p, false, false)
	}
	if _, err := bufs.WriteTo(r.Conn); err != nil {
		t.Fatal(err)
	}
	var peak uint64
	for start := time.Now(); time.Since(start) < 3*time.Second; time.Sleep(250 * time.Millisecond) {
		peak = max(peak, liveHeap())
	}
	r.Conn.Close()
	var after uint64
	for end := time.Now().Add(8 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		if after = liveHeap(); after < base+32<<20 {
			break
		}
	}
	t.Logf("heap %d MiB before, peak %d MiB while the initiator does not read, %d MiB after it closed", base>>20, peak>>20, after>>20)
	if peak > base+112<<20 {
		t.Errorf("one stalled connection holds %d MiB of read data", (peak-base)>>20)
	}
	if after > base+32<<20 {
		t.Errorf("%d MiB of read data still held after the connection closed", (after-base)>>20)
	}
}

// TestStalledReaderReads: a full queue of READs whose data is never read.
func TestStalledReaderReads(t *testing.T) { stalledReader(t, 64, false) }

// TestStalledReaderImmediateReads: immediate READs, which bypass the CmdSN window
// (up to twice the queue depth of them are admitted).
func TestStalledReaderImmediateReads(t *testing.T) { stalledReader(t, 64, true) }
