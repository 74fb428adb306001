package inprocess

import (
	"bytes"
	"testing"
	"time"

	"github.com/atgt/atgt/messages/iscsi"
	"github.com/atgt/atgt/tests/initiator"
)

// awaitReject waits for a Reject that answers no outstanding task.
func awaitReject(t *testing.T, s *initiator.Session) *initiator.RejectError {
	t.Helper()
	select {
	case r := <-s.Rejects:
		return r
	case <-s.Done():
		t.Fatalf("connection closed instead of a Reject: %v", s.Err())
	case <-time.After(5 * time.Second):
		t.Fatalf("no Reject within 5s")
	}
	return nil
}

// rawWrite16 builds a SIMPLE WRITE(16) PDU with all its data as immediate data,
// sent as it stands (Session.SendPDU), bypassing the session's own checks.
func rawWrite16(itt, cmdSN uint32, lba uint64, data []byte) *iscsi.PDU {
	p := &iscsi.PDU{Data: data}
	h := &p.BHS
	h.SetOpcode(iscsi.OpSCSICmd)
	h.SetFinal(true)
	h.SetCmdWrite(true)
	h.SetTaskAttr(iscsi.TaskAttrSimple)
	h.SetITT(itt)
	h.SetExpectedDataTransferLength(uint32(len(data)))
	h.SetCmdSN(cmdSN)
	copy(h.CDB(), write16(lba, uint32(len(data)/blockSize)))
	return p
}

// TestBadPDUs sends PDUs that break the protocol over a logged-in session: each gets
// a Reject carrying its header (RFC 7143 11.17), and the session and the target keep
// working.
func TestBadPDUs(t *testing.T) {
	svc := start(t, baseConfig(t), nil)
	addr := svc.Addrs()[0]
	data := randomData(900, 8192)
	tests := []struct {
		name    string
		o       initiator.Options
		build   func(s *initiator.Session) *iscsi.PDU
		op      iscsi.Opcode
		reasons []uint8
	}{
		{"Data-Out for an unknown TTT", initiator.Options{}, func(s *initiator.Session) *iscsi.PDU {
			p := &iscsi.PDU{Data: data[:512]}
			h := &p.BHS
			h.SetOpcode(iscsi.OpDataOut)
			h.SetFinal(true)
			h.SetITT(0x7000_0001)
			h.SetTTT(0x1234_5678)
			return p
		}, iscsi.OpDataOut, []uint8{iscsi.RejectInvalidPDUField, iscsi.RejectProtocolError}},
		{"immediate data beyond FirstBurstLength", initiator.Options{FirstBurstLength: 4096}, func(s *initiator.Session) *iscsi.PDU {
			// 8192 bytes of immediate data, FirstBurstLength 4096. Its CmdSN counts
			// as received all the same: a command rejected for a protocol error may
			// not be sent again (RFC 7143 11.17.1), so the target must not wait for it.
			return rawWrite16(0x7000_0002, s.CmdSN(), 0, data)
		}, iscsi.OpSCSICmd, []uint8{iscsi.RejectProtocolError}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.ISID = isid(1000 + i)
			s := dial(t, addr, tc.o)
			ready(t, s, 0)
			if s.Params.FirstBurstLength > 4096 && tc.o.FirstBurstLength == 4096 {
				t.Fatalf("FirstBurstLength negotiated %d", s.Params.FirstBurstLength)
			}
			p := tc.build(s)
			itt := p.BHS.ITT()
			send := s.SendPDU
			if p.BHS.Opcode() == iscsi.OpSCSICmd {
				send = s.SendNumberedPDU
			}
			if err := send(p); err != nil {
				t.Fatalf("send: %v", err)
			}
			r := awaitReject(t, s)
			if r.Header.Opcode() != tc.op || r.Header.ITT() != itt {
				t.Fatalf("Reject carries %v itt=%#x, want %v itt=%#x", r.Header.Opcode(), r.Header.ITT(), tc.op, itt)
			}
			ok := false
			for _, want := range tc.reasons {
				ok = ok || r.Reason == want
			}
			if !ok {
				t.Fatalf("Reject reason %#x, want one of %#x", r.Reason, tc.reasons)
			}
			// The same session still works, including CmdSN-ordered commands.
			if err := s.Nop([]byte("after reject")); err != nil {
				t.Fatalf("nop after the Reject: %v", err)
			}
			w := randomData(uint64(910+i), 16384)
			if err := s.Write(0, uint64(4096+i*64), w, blockSize, false); err != nil {
				t.Fatalf("write after the Reject: %v", err)
			}
			mustReadBack(t, s, 0, uint64(4096+i*64), w)
			// And so does the target: another session logs in and reads the data.
			s2 := dial(t, addr, initiator.Options{ISID: isid(1100 + i)})
			ready(t, s2, 0)
			mustReadBack(t, s2, 0, uint64(4096+i*64), w)
		})
	}
}

// TestReinstatement: a login with the same initiator name and ISID ends the old
// session (RFC 7143 6.3.5): its connection is closed, and the new session works.
func TestReinstatement(t *testing.T) {
	svc := start(t, baseConfig(t), nil)
	addr := svc.Addrs()[0]
	o := initiator.Options{ISID: isid(1200)}
	old := dial(t, addr, o)
	ready(t, old, 0)
	other := dial(t, addr, initiator.Options{ISID: isid(1201)}) // a different port: untouched
	ready(t, other, 0)

	s := dial(t, addr, o)
	select {
	case <-old.Done():
	case <-time.After(5 * time.Second):
		t.Fatalf("old session's connection still open 5s after reinstatement")
	}
	if err := old.Nop(nil); err == nil {
		t.Fatalf("old session still answers after reinstatement")
	}
	if s.Params.TSIH == old.Params.TSIH {
		t.Errorf("new session reuses TSIH %d", s.Params.TSIH)
	}
	ready(t, s, 0)
	w := randomData(1200, 65536)
	if err := s.Write(0, 0, w, blockSize, false); err != nil {
		t.Fatalf("write on the new session: %v", err)
	}
	mustReadBack(t, s, 0, 0, w)
	if err := other.Nop(nil); err != nil {
		t.Fatalf("session of another ISID was affected: %v", err)
	}
}

// TestCommandOutsideWindow: a command whose CmdSN lies outside the window (far ahead,
// or already used) is dropped silently (RFC 7143 4.2.2.1) and forgotten: ABORT TASK
// for its ITT answers at once, nothing is written, and the session goes on working.
func TestCommandOutsideWindow(t *testing.T) {
	svc := start(t, baseConfig(t), nil)
	s := dial(t, svc.Addrs()[0], initiator.Options{ISID: isid(1200)})
	ready(t, s, 0)
	for i, cmdSN := range []uint32{s.CmdSN() + 100000, s.CmdSN() - 1} {
		data := randomData(uint64(1200+i), 4096)
		itt := uint32(0x7100_0001 + i)
		lba := uint64(64 + 8*i)
		p := rawWrite16(itt, cmdSN, lba, data)
		if err := s.SendPDU(p); err != nil {
			t.Fatal(err)
		}
		// The session's answer (a CmdSN-ordered NOP) shows the drop was processed.
		if err := s.Nop([]byte("after")); err != nil {
			t.Fatalf("nop: %v", err)
		}
		// ABORT TASK must not wait for the dropped command.
		resp, err := s.TaskMgmt(iscsi.TMFAbortTask, 0, itt)
		if err != nil {
			t.Fatalf("CmdSN %d: ABORT TASK: %v", cmdSN, err)
		}
		if resp != iscsi.TMFRespTaskNotExist {
			t.Fatalf("CmdSN %d: ABORT TASK response %d, want 1 (no such task)", cmdSN, resp)
		}
		got, err := s.Read(0, lba, 8, blockSize)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if bytes.Equal(got, data) {
			t.Fatalf("CmdSN %d: the dropped command's data was written", cmdSN)
		}
	}
	w := randomData(1210, 4096)
	if err := s.Write(0, 64, w, blockSize, false); err != nil {
		t.Fatalf("write after the dropped commands: %v", err)
	}
	mustReadBack(t, s, 0, 64, w)
}
