package inprocess

import (
	"context"
	"testing"
	"time"

	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/iscsi"
	"github.com/atgt/atgt/tests/initiator"
)

// rawSession is a logged-in connection driven PDU by PDU, for the session-level
// tests that need requests the initiator package would not send (a SCSI Command on
// a discovery session, a Text Request declaring a key again).
type rawSession struct {
	t *testing.T
	r *initiator.Raw
}

// dialRawSession logs in (a normal session unless o.Discovery) and hands over the
// connection; it is closed when the test ends.
func dialRawSession(t *testing.T, addr string, o initiator.Options) *rawSession {
	t.Helper()
	if o.InitiatorName == "" {
		o.InitiatorName = initiatorName
	}
	if o.TargetName == "" && !o.Discovery {
		o.TargetName = targetName
	}
	r, err := initiator.DialRaw(addr, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Conn.Close() })
	return &rawSession{t: t, r: r}
}

// send numbers p with the next CmdSN (advanced unless immediate) and ExpStatSN,
// and writes it.
func (c *rawSession) send(p *iscsi.PDU, immediate bool) {
	c.t.Helper()
	h := &p.BHS
	h.SetImmediate(immediate)
	h.SetCmdSN(c.r.CmdSN)
	h.SetExpStatSN(c.r.ExpStatSN)
	if !immediate {
		c.r.CmdSN++
	}
	c.r.Conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.r.Conn.Write(iscsi.MarshalPDU(p, false, false)); err != nil {
		c.t.Fatalf("send %v: %v", h.Opcode(), err)
	}
}

// recv returns the next PDU the target sends, or fails the test when none comes
// within d. It reads segments of any length, so that the test sees what the target
// sent rather than the reader's refusal.
func (c *rawSession) recv(d time.Duration, what string) *iscsi.PDU {
	c.t.Helper()
	c.r.Conn.SetReadDeadline(time.Now().Add(d))
	in := &iscsi.PDU{}
	if err := c.r.Reader.Read(iscsi.Limits{MaxRecvDataSegmentLength: 1 << 24}, in); err != nil {
		c.t.Fatalf("%s: nothing received: %v", what, err)
	}
	h := &in.BHS
	switch op := h.Opcode(); {
	case op == iscsi.OpDataIn && !h.HasStatus(), op == iscsi.OpR2T:
	case op == iscsi.OpNopIn && h.ITT() == iscsi.ReservedTag:
	default:
		c.r.ExpStatSN = h.StatSN() + 1
	}
	return in
}

// textRequest is a final Text Request with keys, starting a new exchange.
func textRequest(itt uint32, kvs ...iscsi.KV) *iscsi.PDU {
	p := &iscsi.PDU{Data: iscsi.AppendText(nil, kvs...)}
	p.BHS.SetOpcode(iscsi.OpTextReq)
	p.BHS.SetFinal(true)
	p.BHS.SetITT(itt)
	p.BHS.SetTTT(iscsi.ReservedTag)
	return p
}

// TestDiscoveryRejectedRequestsTakeCmdSN: on a discovery session a SCSI Command and
// a task management request are rejected (RFC 7143 4.3), and each non-immediate one
// still takes its CmdSN (11.17.1: it may not be sent again), so that the SendTargets
// and the Logout after them are answered rather than held behind a hole.
func TestDiscoveryRejectedRequestsTakeCmdSN(t *testing.T) {
	svc := start(t, baseConfig(t), nil)
	c := dialRawSession(t, svc.Addrs()[0], initiator.Options{ISID: isid(1400), Discovery: true})

	tur := &iscsi.PDU{}
	tur.BHS.SetOpcode(iscsi.OpSCSICmd)
	tur.BHS.SetTaskAttr(iscsi.TaskAttrSimple)
	tur.BHS.SetFinal(true)
	tur.BHS.SetITT(1) // TEST UNIT READY: the CDB is all zero
	c.send(tur, false)
	if in := c.recv(3*time.Second, "SCSI Command"); in.BHS.Opcode() != iscsi.OpReject || in.BHS.Response() != iscsi.RejectProtocolError {
		t.Fatalf("SCSI Command on a discovery session: %v, want Reject %#x", in.BHS.Opcode(), iscsi.RejectProtocolError)
	}
	tmf := &iscsi.PDU{}
	tmf.BHS.SetOpcode(iscsi.OpTaskMgmtReq)
	tmf.BHS.SetTMFFunction(iscsi.TMFAbortTaskSet)
	tmf.BHS.SetITT(2)
	tmf.BHS.SetReferencedTaskTag(iscsi.ReservedTag)
	c.send(tmf, false)
	if in := c.recv(3*time.Second, "task management request"); in.BHS.Opcode() != iscsi.OpReject {
		t.Fatalf("task management request on a discovery session: %v, want Reject", in.BHS.Opcode())
	}

	c.send(textRequest(3, iscsi.KV{Key: "SendTargets", Value: "All"}), false)
	in := c.recv(3*time.Second, "SendTargets after the rejected requests")
	kvs, err := iscsi.ParseText(in.Data)
	if in.BHS.Opcode() != iscsi.OpTextResp || err != nil || len(kvs) == 0 || kvs[0] != (iscsi.KV{Key: "TargetName", Value: targetName}) {
		t.Fatalf("SendTargets: %v %v %v", in.BHS.Opcode(), kvs, err)
	}
	if exp := in.BHS.ExpCmdSN(); exp != c.r.CmdSN {
		t.Fatalf("ExpCmdSN %d after three non-immediate requests, want %d", exp, c.r.CmdSN)
	}
	logout := &iscsi.PDU{}
	logout.BHS.SetOpcode(iscsi.OpLogoutReq)
	logout.BHS.SetLogoutReason(iscsi.LogoutCloseSession)
	logout.BHS.SetITT(4)
	c.send(logout, false)
	if in := c.recv(3*time.Second, "Logout"); in.BHS.Opcode() != iscsi.OpLogoutResp || in.BHS.Response() != 0 {
		t.Fatalf("Logout: %v response %d", in.BHS.Opcode(), in.BHS.Response())
	}
}

// TestTextRedeclaresMaxRecvDataSegmentLength: an initiator may declare
// MaxRecvDataSegmentLength again in a Text Request (RFC 7143 13.12, "Use: ALL").
// The target answers with its own declaration, and every data segment it sends
// after that answer is at most the new value: a 64 KiB READ comes as 16 Data-In
// PDUs of 4096 bytes, and a NOP-In echoes 4096 bytes of a longer ping.
func TestTextRedeclaresMaxRecvDataSegmentLength(t *testing.T) {
	svc := start(t, baseConfig(t), nil)
	c := dialRawSession(t, svc.Addrs()[0], initiator.Options{ISID: isid(1401), MaxRecvDataSegmentLength: 262144})
	if got := c.r.Params.MaxRecvDataSegmentLength; got != 262144 {
		t.Fatalf("declared %d at login, want 262144", got)
	}
	const newMax = 4096
	c.send(textRequest(1, iscsi.KV{Key: "MaxRecvDataSegmentLength", Value: "4096"}), false)
	in := c.recv(3*time.Second, "Text Request")
	kvs, err := iscsi.ParseText(in.Data)
	want := iscsi.KV{Key: "MaxRecvDataSegmentLength", Value: c.r.Params.Keys["MaxRecvDataSegmentLength"]}
	if in.BHS.Opcode() != iscsi.OpTextResp || !in.BHS.Final() || err != nil || len(kvs) != 1 || kvs[0] != want {
		t.Fatalf("answer to MaxRecvDataSegmentLength=4096: %v F=%v %v %v; want %v", in.BHS.Opcode(), in.BHS.Final(), kvs, err, want)
	}

	// READ(10) of 128 blocks at LBA 0; the first answer may be the power-on unit
	// attention.
	const length = 64 << 10
	read := &iscsi.PDU{}
	h := &read.BHS
	h.SetOpcode(iscsi.OpSCSICmd)
	h.SetTaskAttr(iscsi.TaskAttrSimple)
	h.SetFinal(true)
	h.SetCmdRead(true)
	h.SetExpectedDataTransferLength(length)
	copy(h.CDB(), []byte{0x28, 0, 0, 0, 0, 0, 0, 0, length / blockSize, 0})
	for try := uint32(0); ; try++ {
		if try == 3 {
			t.Fatal("the READ did not succeed in 3 tries")
		}
		h.SetITT(2 + try)
		c.send(read, false)
		pdus, total := 0, 0
		for {
			in := c.recv(3*time.Second, "READ")
			if in.BHS.Opcode() == iscsi.OpSCSIResp {
				break // CHECK CONDITION (unit attention): again
			}
			if in.BHS.Opcode() != iscsi.OpDataIn {
				t.Fatalf("READ: got %v", in.BHS.Opcode())
			}
			if len(in.Data) > newMax {
				t.Fatalf("Data-In of %d bytes after the initiator declared MaxRecvDataSegmentLength=%d", len(in.Data), newMax)
			}
			pdus++
			total += len(in.Data)
			if in.BHS.HasStatus() {
				if pdus != length/newMax || total != length {
					t.Fatalf("READ of %d bytes came as %d Data-In PDUs, %d bytes; want %d of %d", length, pdus, total, length/newMax, newMax)
				}
				break
			}
		}
		if pdus > 0 {
			break
		}
	}

	ping := &iscsi.PDU{Data: make([]byte, min(c.r.Params.MaxXmitDataSegmentLength, 2*newMax))}
	ping.BHS.SetOpcode(iscsi.OpNopOut)
	ping.BHS.SetFinal(true)
	ping.BHS.SetITT(10)
	ping.BHS.SetTTT(iscsi.ReservedTag)
	c.send(ping, false)
	if in := c.recv(3*time.Second, "NOP-Out"); in.BHS.Opcode() != iscsi.OpNopIn || len(in.Data) != min(len(ping.Data), newMax) {
		t.Fatalf("NOP-Out of %d bytes: %v with %d bytes, want NOP-In with %d", len(ping.Data), in.BHS.Opcode(), len(in.Data), min(len(ping.Data), newMax))
	}
}

// TestSessionsShowRedeclaredMaxRecvDataSegmentLength: the admin API's session list
// (what `atgtctl sessions -keys` prints) shows the MaxRecvDataSegmentLength in force,
// the one the initiator declared last (RFC 7143 13.12, "Use: ALL"), not the one of
// its login.
func TestSessionsShowRedeclaredMaxRecvDataSegmentLength(t *testing.T) {
	svc := start(t, baseConfig(t), nil)
	c := dialRawSession(t, svc.Addrs()[0], initiator.Options{ISID: isid(1402), MaxRecvDataSegmentLength: 262144})
	shown := func() string {
		t.Helper()
		l, err := svc.ListSessions(context.Background(), &pb.ListSessionsRequest{})
		if err != nil || len(l.GetSessions()) != 1 {
			t.Fatalf("ListSessions: %v, %v; want the one session", l, err)
		}
		return l.Sessions[0].Keys["MaxRecvDataSegmentLength"]
	}
	if got := shown(); got != "262144" {
		t.Fatalf("after login the session list shows MaxRecvDataSegmentLength %q, want 262144", got)
	}
	c.send(textRequest(1, iscsi.KV{Key: "MaxRecvDataSegmentLength", Value: "4096"}), false)
	if in := c.recv(3*time.Second, "Text Request"); in.BHS.Opcode() != iscsi.OpTextResp || !in.BHS.Final() {
		t.Fatalf("answer to MaxRecvDataSegmentLength=4096: %v F=%v", in.BHS.Opcode(), in.BHS.Final())
	}
	if got := shown(); got != "4096" {
		t.Fatalf("after the Text Request the session list shows MaxRecvDataSegmentLength %q, want 4096", got)
	}
}
