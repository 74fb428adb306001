package inprocess

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"

	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/iscsi"
	"github.com/atgt/atgt/tests/initiator"
)

// halfLogin is a connection stopped in the middle of its login: its first Login
// Request (operational stage, T=0) is answered, and its last one not yet sent.
type halfLogin struct {
	c    net.Conn
	rd   *iscsi.Reader
	isid [6]byte
}

// startLogin connects and sends the first Login Request of a two-step login to
// target, checking that the target answers it with success and no transit.
func startLogin(t *testing.T, addr, target string, isidN int) *halfLogin {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	h := &halfLogin{c: c, rd: iscsi.NewReader(c, 4096), isid: isid(isidN)}
	resp := h.step(t, false, []iscsi.KV{{Key: "InitiatorName", Value: initiatorName},
		{Key: "TargetName", Value: target}, {Key: "SessionType", Value: "Normal"}})
	if st := resp.BHS.LoginStatus(); st != 0 || resp.BHS.Transit() {
		t.Fatalf("first Login Request: status %#04x transit %v; want success without transit", uint16(st), resp.BHS.Transit())
	}
	return h
}

// step sends one Login Request of the operational stage (to the full feature phase
// if transit) and reads its response.
func (h *halfLogin) step(t *testing.T, transit bool, keys []iscsi.KV) *iscsi.PDU {
	t.Helper()
	p := &iscsi.PDU{Data: iscsi.AppendText(nil, keys...)}
	b := &p.BHS
	b.SetOpcode(iscsi.OpLoginReq)
	b.SetImmediate(true)
	b.SetTransit(transit)
	b.SetCSG(iscsi.LoginStageOperational)
	if transit {
		b.SetNSG(iscsi.LoginStageFullFeature)
	}
	b.SetISID(h.isid)
	b.SetITT(1)
	b.SetCmdSN(1)
	h.c.SetDeadline(time.Now().Add(gateWait))
	if _, err := h.c.Write(iscsi.MarshalPDU(p, false, false)); err != nil {
		t.Fatalf("login write: %v", err)
	}
	resp := &iscsi.PDU{}
	if err := h.rd.Read(iscsi.LoginLimits, resp); err != nil {
		t.Fatalf("login read: %v", err)
	}
	if op := resp.BHS.Opcode(); op != iscsi.OpLoginResp {
		t.Fatalf("got %v during login", op)
	}
	return resp
}

// TestTargetColdResetRefusesLoginInProgress: a connection in the middle of its login
// to a target when a TARGET COLD RESET of that target runs is closed as well (RFC
// 7143 11.5.1: the reset closes every connection to the target): its login, once
// complete, is refused with status Service Unavailable (0301) and the connection
// closed, never reaching the full feature phase. A login in progress to another
// target completes, and new logins to the reset target are taken.
func TestTargetColdResetRefusesLoginInProgress(t *testing.T) {
	cfg := baseConfig(t)
	const other = targetName + "-other"
	cfg.Targets = append(cfg.Targets, &pb.Target{Name: other, Luns: []*pb.Lun{{Id: 0, Backend: "memory", SizeBytes: lunSize}}})
	svc := start(t, cfg, nil)
	addr := svc.Addrs()[0]
	asker := dial(t, addr, initiator.Options{ISID: isid(1320)})
	ready(t, asker, 0)
	peer := dial(t, addr, initiator.Options{ISID: isid(1321)})
	half := startLogin(t, addr, targetName, 1322)
	elsewhere := startLogin(t, addr, other, 1323)

	resp, err := asker.TaskMgmt(iscsi.TMFTargetColdReset, 0, 0)
	if err != nil || resp != iscsi.TMFRespComplete {
		t.Fatalf("TARGET COLD RESET: response %d, %v; want 0", resp, err)
	}
	// The established peer's end shows that the session manager took the reset.
	select {
	case <-peer.Done():
	case <-time.After(gateWait):
		t.Fatalf("established session still connected after TARGET COLD RESET")
	}

	final := half.step(t, true, nil)
	if st := final.BHS.LoginStatus(); st != iscsi.LoginStatusServiceUnavailable || final.BHS.Transit() {
		t.Fatalf("login in progress during TARGET COLD RESET: status %#04x transit %v; want %#04x without transit",
			uint16(st), final.BHS.Transit(), uint16(iscsi.LoginStatusServiceUnavailable))
	}
	half.c.SetReadDeadline(time.Now().Add(gateWait))
	if n, err := half.c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("after the refused login: read %d bytes, %v; want the connection closed", n, err)
	}

	done := elsewhere.step(t, true, nil)
	if st := done.BHS.LoginStatus(); st != 0 || !done.BHS.Transit() || done.BHS.NSG() != iscsi.LoginStageFullFeature {
		t.Fatalf("login in progress to another target: status %#04x transit %v; want success into the full feature phase",
			uint16(st), done.BHS.Transit())
	}

	// A login that starts after the reset is taken.
	s := dial(t, addr, initiator.Options{ISID: isid(1322)})
	ready(t, s, 0)
}
