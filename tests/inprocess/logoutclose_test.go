package inprocess

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/atgt/atgt/messages/iscsi"
	"github.com/atgt/atgt/tests/initiator"
)

// TestLogoutHalfCloses: after the Logout Response the target half-closes the
// connection (RFC 7143 11.14: it sends FIN) and reads what the initiator still
// sent, so that a PDU the initiator sent before the response arrived does not
// turn the close into a reset, which would throw away the response itself.
func TestLogoutHalfCloses(t *testing.T) {
	cfg := baseConfig(t)
	svc := start(t, cfg, nil)
	r, err := initiator.DialRaw(svc.Addrs()[0], initiator.Options{InitiatorName: initiatorName, TargetName: targetName, ISID: isid(960)})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Conn.Close()
	var bufs net.Buffers
	logout := &iscsi.PDU{}
	logout.BHS.SetOpcode(iscsi.OpLogoutReq)
	logout.BHS.SetLogoutReason(iscsi.LogoutCloseSession)
	logout.BHS.SetImmediate(true)
	logout.BHS.SetITT(1)
	logout.BHS.SetCmdSN(r.CmdSN)
	logout.BHS.SetExpStatSN(r.ExpStatSN)
	bufs = iscsi.AppendPDU(bufs, logout, false, false)
	// NOP-Outs right behind it, 8 MiB of them: still unread when the target has
	// answered the logout.
	data := make([]byte, r.Params.MaxXmitDataSegmentLength)
	for i := 0; i < (8<<20)/len(data); i++ {
		nop := &iscsi.PDU{Data: data}
		nop.BHS.SetOpcode(iscsi.OpNopOut)
		nop.BHS.SetFinal(true)
		nop.BHS.SetImmediate(true)
		nop.BHS.SetITT(uint32(2 + i))
		nop.BHS.SetTTT(iscsi.ReservedTag)
		nop.BHS.SetCmdSN(r.CmdSN)
		bufs = iscsi.AppendPDU(bufs, nop, false, false)
	}
	// The whole write goes through only if the target reads on after the
	// response; a target that closed instead reset the connection.
	r.Conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := bufs.WriteTo(r.Conn); err != nil {
		t.Fatalf("the initiator's PDUs sent with the Logout Request: %v", err)
	}
	r.Conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	lim := iscsi.Limits{MaxRecvDataSegmentLength: r.Params.MaxRecvDataSegmentLength}
	var in iscsi.PDU
	if err := r.Reader.Read(lim, &in); err != nil {
		t.Fatalf("no Logout Response: %v", err)
	}
	if op := in.BHS.Opcode(); op != iscsi.OpLogoutResp {
		t.Fatalf("got %v, want a Logout Response", op)
	}
	// Nothing more comes, and the target's side ends with FIN (EOF), not a reset.
	if err := r.Reader.Read(lim, &in); !errors.Is(err, io.EOF) {
		t.Fatalf("after the Logout Response: %v (%v), want EOF from a half-close", err, in.BHS.Opcode())
	}
}
