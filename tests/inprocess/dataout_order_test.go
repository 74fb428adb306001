package inprocess

import (
	"testing"
	"time"

	"github.com/atgt/atgt/messages/iscsi"
	"github.com/atgt/atgt/messages/scsi"
	"github.com/atgt/atgt/tests/initiator"
)

// TestDataOutAcrossSequences: an initiator that answers two outstanding R2Ts in the
// wrong order (which DataSequenceInOrder=Yes forbids, but which the target does not
// reject) still gets its data written where each Data-Out's offset says, on a file
// LUN (whose writes keep the PDUs' buffers as parts) and a memory LUN.
func TestDataOutAcrossSequences(t *testing.T) {
	cfg := fileAndMemoryConfig(t)
	svc := start(t, cfg, nil)
	for lun := uint64(0); lun < 2; lun++ {
		raw, err := initiator.DialRaw(svc.Addrs()[0], initiator.Options{
			InitiatorName: initiatorName, TargetName: targetName, ISID: isid(970 + int(lun)),
			ImmediateData: initiator.Bool(false), InitialR2T: initiator.Bool(true),
			MaxBurstLength: 8192, FirstBurstLength: 8192, MaxOutstandingR2T: 2,
		})
		if err != nil {
			t.Fatalf("login: %v", err)
		}
		defer raw.Conn.Close()
		if raw.Params.MaxOutstandingR2T < 2 {
			t.Fatalf("MaxOutstandingR2T %d", raw.Params.MaxOutstandingR2T)
		}
		lim := iscsi.Limits{MaxRecvDataSegmentLength: raw.Params.MaxRecvDataSegmentLength}
		send := func(p *iscsi.PDU) {
			t.Helper()
			p.BHS.SetExpStatSN(raw.ExpStatSN)
			raw.Conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if _, err := raw.Conn.Write(iscsi.MarshalPDU(p, false, false)); err != nil {
				t.Fatal(err)
			}
		}
		recv := func() *iscsi.PDU {
			t.Helper()
			p := &iscsi.PDU{}
			raw.Conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			if err := raw.Reader.Read(lim, p); err != nil {
				t.Fatal(err)
			}
			if p.BHS.Opcode() == iscsi.OpSCSIResp {
				raw.ExpStatSN = p.BHS.StatSN() + 1
			}
			return p
		}
		// command sends a SIMPLE command with F set: no unsolicited data, the target
		// asks for all of a write's data with R2Ts.
		command := func(itt uint32, cdb []byte, edtl uint32, write bool) {
			p := &iscsi.PDU{}
			h := &p.BHS
			h.SetOpcode(iscsi.OpSCSICmd)
			h.SetFinal(true)
			h.SetCmdWrite(write)
			h.SetTaskAttr(iscsi.TaskAttrSimple)
			h.SetLUN(scsi.EncodeLUN(lun))
			h.SetITT(itt)
			h.SetExpectedDataTransferLength(edtl)
			h.SetCmdSN(raw.CmdSN)
			raw.CmdSN++
			copy(h.CDB(), cdb)
			send(p)
		}
		// The first command of a new nexus may meet a unit attention.
		for i := 0; ; i++ {
			command(uint32(i+1), make([]byte, 6), 0, false) // TEST UNIT READY
			if r := recv(); r.BHS.Opcode() == iscsi.OpSCSIResp && r.BHS.Status() == scsi.StatusGood {
				break
			} else if i == 5 {
				t.Fatalf("TEST UNIT READY never GOOD: %v", r)
			}
		}

		const size = 16384
		data := randomData(970+lun, size)
		const itt = 0x100
		command(itt, write16(64, size/blockSize), size, true) // no data yet
		var r2ts []*iscsi.PDU
		for len(r2ts) < 2 {
			p := recv()
			if p.BHS.Opcode() != iscsi.OpR2T {
				t.Fatalf("LUN %d: got %v, want an R2T", lun, p)
			}
			r2ts = append(r2ts, p)
		}
		// The second burst first, then the first.
		for _, r := range []*iscsi.PDU{r2ts[1], r2ts[0]} {
			off, n := r.BHS.BufferOffset(), r.BHS.DesiredDataTransferLength()
			p := &iscsi.PDU{Data: data[off : off+n]}
			h := &p.BHS
			h.SetOpcode(iscsi.OpDataOut)
			h.SetFinal(true)
			h.SetLUN(scsi.EncodeLUN(lun))
			h.SetITT(itt)
			h.SetTTT(r.BHS.TTT())
			h.SetBufferOffset(off)
			send(p)
		}
		if resp := recv(); resp.BHS.Opcode() != iscsi.OpSCSIResp || resp.BHS.Status() != scsi.StatusGood {
			t.Fatalf("LUN %d: write answered %v", lun, resp)
		}

		s := dial(t, svc.Addrs()[0], initiator.Options{ISID: isid(980 + int(lun))})
		ready(t, s, lun)
		mustReadBack(t, s, lun, 64, data)
	}
}
