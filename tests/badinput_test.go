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

// loginTimeout is the login_timeout_seconds TestBadInput runs atgtd with: short, so
// that the cases that rely on it end quickly. closeSlack is how much later than its
// deadline the target may close (a loaded, shared machine); prompt bounds a reaction
// that needs no timer.
const (
	loginTimeout = 2 * time.Second
	closeSlack   = 2 * time.Second
	prompt       = time.Second
)

// TestBadInput sends malformed traffic over raw TCP. Each case checks the answer RFC
// 7143 prescribes (a Reject, a login failure status, or the connection closed by the
// target in bounded time); after each the daemon must still run and a fresh session
// must work.
func TestBadInput(t *testing.T) {
	requireLibiscsi(t, "iscsi-inq")
	cfg := oneLunConfig(t, 64<<20)
	cfg.LoginTimeoutSeconds = int(loginTimeout / time.Second)
	d := startDaemonConfig(t, cfg)

	tests := []struct {
		name string
		run  func(t *testing.T, addr string)
	}{
		{"random garbage", func(t *testing.T, addr string) {
			// Garbage may read as the start of a PDU whose rest never comes, so the
			// bound is the login timeout; an answer, if any, must be a login failure
			// with an initiator error status (class 2) before the close.
			type conn struct {
				c     net.Conn
				begin time.Time
			}
			var conns []conn
			for seed := range uint64(5) {
				c, begin := dialAt(t, addr)
				defer c.Close()
				buf := make([]byte, 100)
				rand.NewChaCha8([32]byte{byte(seed), 'g'}).Read(buf)
				writeAll(t, c, buf)
				conns = append(conns, conn{c, begin})
			}
			for seed, cn := range conns {
				st, took := expectLoginEnd(t, cn.c, cn.begin, loginTimeout+closeSlack)
				if st != 0 && st>>8 != 2 {
					t.Errorf("seed %d: login status %#04x, want class 2 (initiator error)", seed, st)
				}
				t.Logf("seed %d: closed after %v, login status %#04x", seed, took.Round(time.Millisecond), st)
			}
		}},
		{"non-login PDU first", func(t *testing.T, addr string) {
			c, begin := dialAt(t, addr)
			defer c.Close()
			writeAll(t, c, nopOutBHS(1, 1, 0))
			// RFC 7143 11.13.5: 0x020b, invalid during login; then the target closes.
			if st, _ := expectLoginEnd(t, c, begin, prompt); st != 0x020b {
				t.Fatalf("login status %#04x, want 0x020b (invalid during login)", st)
			}
		}},
		{"truncated header", func(t *testing.T, addr string) {
			c, begin := dialAt(t, addr)
			defer c.Close()
			hdr := loginBHS(0, 0, 1, 0)
			writeAll(t, c, hdr[:20])
			// Our FIN ends the stream inside a header: the target closes at once,
			// without an answer and without waiting for its login timeout.
			if err := c.(*net.TCPConn).CloseWrite(); err != nil {
				t.Fatal(err)
			}
			if st, _ := expectLoginEnd(t, c, begin, prompt); st != 0 {
				t.Fatalf("login status %#04x for half a header, want no answer", st)
			}
		}},
		{"truncated header then silence", func(t *testing.T, addr string) {
			c, begin := dialAt(t, addr)
			defer c.Close()
			hdr := loginBHS(0, 0, 1, 0)
			writeAll(t, c, hdr[:20])
			if st, _ := expectLoginEnd(t, c, begin, loginTimeout+closeSlack); st != 0 {
				t.Fatalf("login status %#04x for half a header, want no answer", st)
			}
		}},
		{"connect and send nothing", func(t *testing.T, addr string) {
			c, begin := dialAt(t, addr)
			defer c.Close()
			st, took := expectLoginEnd(t, c, begin, loginTimeout+closeSlack)
			if st != 0 {
				t.Fatalf("login status %#04x to silence, want no answer", st)
			}
			if took < loginTimeout*3/4 {
				t.Fatalf("silent connection closed after %v, before its login timeout of %v", took, loginTimeout)
			}
		}},
		{"login that never finishes", func(t *testing.T, addr string) {
			// Continued (C=1) Login Requests are each answered, but the login never
			// ends: the timeout counts from accept, not from the last request.
			c, begin := dialAt(t, addr)
			defer c.Close()
			var expStatSN uint32
			exchanges := 0
			for {
				h := loginBHS(0, 4, 1, expStatSN)
				var lb iscsi.BHS
				copy(lb[:], h)
				lb.SetTransit(false)
				lb.SetContinue(true)
				lb.SetCSG(iscsi.LoginStageOperational)
				lb.SetNSG(0)
				copy(h, lb[:])
				_ = c.SetWriteDeadline(time.Now().Add(ioDeadline))
				if _, err := c.Write(append(h, "Init"...)); err != nil && !closedErr(err) {
					t.Fatalf("write: %v", err)
				}
				resp, _, err := readPDU(c, time.Until(begin.Add(loginTimeout+closeSlack)))
				if err != nil {
					if !closedErr(err) {
						t.Fatalf("connection still open %v after connect, %d exchanges: %v", time.Since(begin), exchanges, err)
					}
					break
				}
				if resp.Opcode() != iscsi.OpLoginResp || resp.LoginStatus() != iscsi.LoginStatusSuccess {
					t.Fatalf("answer to a continued Login Request: %v status %#04x", resp.Opcode(), uint16(resp.LoginStatus()))
				}
				expStatSN = resp.StatSN() + 1
				exchanges++
				time.Sleep(loginTimeout / 5) // an initiator that keeps talking, slowly
			}
			if exchanges < 3 {
				t.Fatalf("closed after %d exchanges (%v); the test needs a login that went on", exchanges, time.Since(begin))
			}
			t.Logf("closed after %v and %d exchanges", time.Since(begin).Round(time.Millisecond), exchanges)
		}},
		{"logged-in session outlives the login timeout", func(t *testing.T, addr string) {
			silent, silentBegin := dialAt(t, addr)
			defer silent.Close()
			c, begin := dialAt(t, addr)
			defer c.Close()
			s := login(t, c, 0x13)
			// The silent neighbour is dropped; the session logged in beside it is not.
			expectLoginEnd(t, silent, silentBegin, loginTimeout+closeSlack)
			time.Sleep(time.Until(begin.Add(loginTimeout + 500*time.Millisecond)))
			const itt = 0x300
			writeAll(t, c, nopOutBHS(itt, s.cmdSN, s.expStatSN))
			for {
				h, _, err := readPDU(c, ioDeadline)
				if err != nil {
					t.Fatalf("no NOP-In %v after login: %v", time.Since(begin), err)
				}
				if h.Opcode() == iscsi.OpNopIn && h.ITT() == itt {
					break
				}
			}
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

// expectLoginEnd reads until the target closes a connection that has not logged in,
// which it must do by begin+within. Before closing it may send one Login Response,
// which must carry a failure status (RFC 7143 11.13.5: after a failed login the
// target closes). It returns that status (0 if none came) and when the close came.
func expectLoginEnd(t *testing.T, c net.Conn, begin time.Time, within time.Duration) (status uint16, took time.Duration) {
	t.Helper()
	deadline := begin.Add(within)
	for {
		h, _, err := readPDU(c, time.Until(deadline))
		took = time.Since(begin)
		if err != nil {
			if closedErr(err) {
				return status, took
			}
			t.Fatalf("connection still open %v after connect (want closed within %v): %v", took.Round(time.Millisecond), within, err)
		}
		switch {
		case h.Opcode() != iscsi.OpLoginResp:
			t.Fatalf("target sent %v before any login; want a failed Login Response or nothing", h.Opcode())
		case h.StatusClass() == iscsi.LoginClassSuccess:
			t.Fatalf("Login Response with status success (flags %#02x) to input that is no login", h.Flags())
		case status != 0:
			t.Fatalf("a second Login Response after a failed one")
		}
		status = uint16(h.LoginStatus())
	}
}

// nopOutBHS is an immediate NOP-Out that asks for an answer (ITT itt, TTT reserved).
func nopOutBHS(itt, cmdSN, expStatSN uint32) []byte {
	var h iscsi.BHS
	h.SetOpcode(iscsi.OpNopOut)
	h.SetImmediate(true)
	h.SetFinal(true)
	h.SetITT(itt)
	h.SetTTT(iscsi.ReservedTag)
	h.SetCmdSN(cmdSN)
	h.SetExpStatSN(expStatSN)
	return h[:]
}

// dial connects to the portal with a deadline.
func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, _ := dialAt(t, addr)
	return c
}

// dialAt is dial that also returns when the connection was made, from which the
// target's login timeout counts.
func dialAt(t *testing.T, addr string) (net.Conn, time.Time) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, ioDeadline)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	return c, time.Now()
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
