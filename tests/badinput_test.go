package tests

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/atgt/atgt/messages/iscsi"
	"github.com/atgt/atgt/messages/scsi"
)

// ioDeadline bounds each read and write of the raw-TCP tests.
const ioDeadline = 10 * time.Second

// TestBadInput sends malformed traffic over raw TCP. After each case the daemon must
// still run and a fresh session must work.
func TestBadInput(t *testing.T) {
	requireLibiscsi(t, "iscsi-inq")
	d := startDaemon(t)

	tests := []struct {
		name string
		run  func(t *testing.T, addr string)
	}{
		{"random garbage", func(t *testing.T, addr string) {
			for seed := range uint64(5) {
				c := dial(t, addr)
				buf := make([]byte, 100)
				rand.NewChaCha8([32]byte{byte(seed), 'g'}).Read(buf)
				writeAll(t, c, buf)
				observe(t, c, 2*time.Second)
				c.Close()
			}
		}},
		{"truncated header", func(t *testing.T, addr string) {
			c := dial(t, addr)
			hdr := loginBHS(0, 0, 1, 0)
			writeAll(t, c, hdr[:20])
			c.Close()
		}},
		{"truncated header then silence", func(t *testing.T, addr string) {
			c := dial(t, addr)
			hdr := loginBHS(0, 0, 1, 0)
			writeAll(t, c, hdr[:20])
			observe(t, c, 2*time.Second)
			c.Close()
		}},
		{"oversized data segment", func(t *testing.T, addr string) {
			c := dial(t, addr)
			defer c.Close()
			s := login(t, c, 0x11)
			// DataSegmentLength is 24 bits, so 16 MiB - 1 is the most a PDU can
			// claim: far above any MaxRecvDataSegmentLength the target offers.
			const claim = 0xffffff
			if s.maxRecv >= claim {
				t.Fatalf("target declared MaxRecvDataSegmentLength=%d; test needs less", s.maxRecv)
			}
			var h iscsi.BHS
			h.SetOpcode(iscsi.OpSCSICmd)
			h.SetFinal(true)
			h.SetCmdWrite(true)
			h.SetTaskAttr(iscsi.TaskAttrSimple)
			h.SetDataSegmentLength(claim)
			h.SetITT(0x100)
			h.SetExpectedDataTransferLength(claim)
			h.SetCmdSN(s.cmdSN)
			h.SetExpStatSN(s.expStatSN)
			cdb := h.CDB() // WRITE(10), LBA 0
			cdb[0] = scsi.OpWrite10
			binary.BigEndian.PutUint16(cdb[7:9], claim/512)
			// The header and a first chunk of "data"; the rest never comes.
			payload := append(h[:], make([]byte, 64<<10)...)
			_ = c.SetWriteDeadline(time.Now().Add(ioDeadline))
			if _, err := c.Write(payload); err != nil {
				if closedErr(err) {
					t.Logf("target closed the connection while we wrote: %v", err)
					return
				}
				t.Fatalf("write: %v", err)
			}
			expectRejectOrClose(t, c, nil)
		}},
		{"unknown opcode", func(t *testing.T, addr string) {
			c := dial(t, addr)
			defer c.Close()
			s := login(t, c, 0x12)
			var h iscsi.BHS
			h.SetOpcode(0x1f) // no such initiator opcode
			h.SetFinal(true)
			h.SetITT(0x200)
			h.SetCmdSN(s.cmdSN)
			h.SetExpStatSN(s.expStatSN)
			writeAll(t, c, h[:])
			expectRejectOrClose(t, c, []byte{iscsi.RejectProtocolError, iscsi.RejectCommandNotSupported})
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Checked even when the case itself failed: a hang must not hide a crash.
			t.Cleanup(func() {
				// Give the target a moment to tear the connection down first.
				time.Sleep(100 * time.Millisecond)
				if err := d.healthErr(t, defaultIQN); err != nil {
					t.Error(err)
				}
			})
			tc.run(t, d.addr)
		})
	}
}

// session is what a successful raw login leaves us.
type session struct {
	cmdSN     uint32 // CmdSN of the next non-immediate command
	expStatSN uint32
	maxRecv   uint32 // the target's MaxRecvDataSegmentLength (8192 if not declared)
}

// loginBHS encodes a Login Request header: immediate, T=1, CSG=1 (operational), NSG=3
// (full feature), version 0, the given ISID low byte, data segment length, CmdSN and
// ExpStatSN.
func loginBHS(isidLow byte, dataLen int, cmdSN, expStatSN uint32) []byte {
	var h iscsi.BHS
	h.SetOpcode(iscsi.OpLoginReq)
	h.SetImmediate(true)
	h.SetTransit(true)
	h.SetCSG(iscsi.LoginStageOperational)
	h.SetNSG(iscsi.LoginStageFullFeature)
	h.SetVersionMax(0)
	h.SetVersionMin(0)
	h.SetDataSegmentLength(uint32(dataLen))
	// An ISID of the OUI format, and TSIH 0 for a new session.
	h.SetISID([6]byte{0x00, 0x02, 0x3d, 0x00, 0x00, isidLow})
	h.SetTSIH(0)
	h.SetITT(1)
	h.SetCID(0)
	h.SetCmdSN(cmdSN)
	h.SetExpStatSN(expStatSN)
	return h[:]
}

// textSegment encodes key=value pairs, each NUL-terminated, padded to 4 bytes.
func textSegment(kv ...string) (data []byte, length int) {
	for _, s := range kv {
		data = append(data, s...)
		data = append(data, 0)
	}
	length = len(data)
	for len(data)%4 != 0 {
		data = append(data, 0)
	}
	return data, length
}

// login performs a one-step operational login to the default target and checks the
// response.
func login(t *testing.T, c net.Conn, isidLow byte) session {
	t.Helper()
	data, n := textSegment(
		"InitiatorName=iqn.2026-11.dev.atgt:badinput",
		"TargetName="+defaultIQN,
		"SessionType=Normal",
		"HeaderDigest=None",
		"DataDigest=None",
		"MaxRecvDataSegmentLength=8192",
	)
	const cmdSN = 1
	expStatSN := uint32(0)
	writeAll(t, c, append(loginBHS(isidLow, n, cmdSN, expStatSN), data...))
	s := session{cmdSN: cmdSN, maxRecv: 8192}
	keys := map[string]string{}
	for step := 0; ; step++ {
		h, body, err := readPDU(c, ioDeadline)
		if err != nil {
			t.Fatalf("reading Login Response: %v", err)
		}
		if h.Opcode() != iscsi.OpLoginResp {
			t.Fatalf("got %v, want a Login Response", h.Opcode())
		}
		if h.LoginStatus() != iscsi.LoginStatusSuccess {
			t.Fatalf("login refused: status class %#02x detail %#02x", h.StatusClass(), h.StatusDetail())
		}
		for _, kv := range strings.Split(string(body), "\x00") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				keys[k] = v
			}
		}
		s.expStatSN = h.StatSN() + 1
		if h.Transit() && h.NSG() == iscsi.LoginStageFullFeature {
			break // transit to full feature phase
		}
		if step >= 3 {
			t.Fatalf("target did not complete the login after %d exchanges (flags %#02x, keys %v)", step+1, h.Flags(), keys)
		}
		// The target wants another round: repeat the request with no keys.
		writeAll(t, c, loginBHS(isidLow, 0, cmdSN, s.expStatSN))
	}
	if v, ok := keys["MaxRecvDataSegmentLength"]; ok {
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			t.Fatalf("bad MaxRecvDataSegmentLength=%q from target", v)
		}
		s.maxRecv = uint32(n)
	}
	t.Logf("logged in; target keys %v", keys)
	return s
}

// expectRejectOrClose reads until the target sends a Reject (with one of reasons, if
// given) or closes the connection. NOP-In pings are ignored; anything else, or silence
// until the deadline, fails.
func expectRejectOrClose(t *testing.T, c net.Conn, reasons []byte) {
	t.Helper()
	deadline := time.Now().Add(ioDeadline)
	for {
		h, body, err := readPDU(c, time.Until(deadline))
		if err != nil {
			if closedErr(err) {
				t.Logf("target closed the connection: %v", err)
				return
			}
			t.Fatalf("target neither rejected nor closed: %v", err)
		}
		switch op := h.Opcode(); op {
		case iscsi.OpReject:
			reason := h.Response()
			t.Logf("target sent Reject, reason %#02x (rejected header %x)", reason, body[:min(len(body), 8)])
			if len(reasons) > 0 && !slices.Contains(reasons, reason) {
				t.Fatalf("Reject reason %#02x, want one of %x", reason, reasons)
			}
			return
		case iscsi.OpNopIn:
			continue
		default:
			t.Fatalf("target answered with %v, want Reject or a closed connection", op)
		}
	}
}

// readPDU reads one PDU (no digests) and returns its BHS and data segment (padding
// removed, AHS skipped).
func readPDU(c net.Conn, timeout time.Duration) (hdr *iscsi.BHS, data []byte, err error) {
	_ = c.SetReadDeadline(time.Now().Add(timeout))
	hdr = new(iscsi.BHS)
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return nil, nil, err
	}
	ahs := hdr.TotalAHSLength()
	dl := int(hdr.DataSegmentLength())
	if dl > 1<<20 {
		return hdr, nil, fmt.Errorf("target sent a %d-byte data segment", dl)
	}
	rest := make([]byte, ahs+(dl+3)&^3)
	if _, err := io.ReadFull(c, rest); err != nil {
		return hdr, nil, err
	}
	return hdr, rest[ahs : ahs+dl], nil
}

// observe reads whatever the target sends until it closes or timeout passes, and logs
// it; it never fails: for garbage input any orderly reaction is fine.
func observe(t *testing.T, c net.Conn, timeout time.Duration) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(timeout))
	b, err := io.ReadAll(io.LimitReader(c, 1<<20))
	t.Logf("target sent %d bytes then: %v", len(b), err)
}

// dial connects to the portal with a deadline.
func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, ioDeadline)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	return c
}

// writeAll writes b with a deadline.
func writeAll(t *testing.T, c net.Conn, b []byte) {
	t.Helper()
	_ = c.SetWriteDeadline(time.Now().Add(ioDeadline))
	if _, err := c.Write(b); err != nil {
		t.Fatalf("write: %v", err)
	}
}

// closedErr reports whether err means the peer closed or reset the connection.
func closedErr(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, net.ErrClosed)
}
