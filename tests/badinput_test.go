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
)

// iSCSI opcodes and fields used by the raw-TCP tests (RFC 7143 section 11).
const (
	opLoginReq  = 0x03
	opSCSICmd   = 0x01
	opLoginResp = 0x23
	opReject    = 0x3f
	opNopIn     = 0x20
	flagImmed   = 0x40
	bhsLen      = 48

	rejectProtocolError = 0x04
	rejectCmdNotSupp    = 0x05

	ioDeadline = 10 * time.Second
)

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
			h := make([]byte, bhsLen)
			h[0] = opSCSICmd
			h[1] = 0x80 | 0x20 | 0x01 // F, W, SIMPLE
			put24(h[5:8], claim)
			binary.BigEndian.PutUint32(h[16:20], 0x100) // ITT
			binary.BigEndian.PutUint32(h[20:24], claim) // EDTL
			binary.BigEndian.PutUint32(h[24:28], s.cmdSN)
			binary.BigEndian.PutUint32(h[28:32], s.expStatSN)
			cdb := h[32:48] // WRITE(10), LBA 0
			cdb[0] = 0x2a
			binary.BigEndian.PutUint16(cdb[7:9], claim/512)
			// The header and a first chunk of "data"; the rest never comes.
			payload := append(h, make([]byte, 64<<10)...)
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
			h := make([]byte, bhsLen)
			h[0] = 0x1f // no such initiator opcode
			h[1] = 0x80
			binary.BigEndian.PutUint32(h[16:20], 0x200)
			binary.BigEndian.PutUint32(h[24:28], s.cmdSN)
			binary.BigEndian.PutUint32(h[28:32], s.expStatSN)
			writeAll(t, c, h)
			expectRejectOrClose(t, c, []byte{rejectProtocolError, rejectCmdNotSupp})
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
	h := make([]byte, bhsLen)
	h[0] = flagImmed | opLoginReq // 0x43
	h[1] = 0x80 | 1<<2 | 3        // T, CSG=1, NSG=3: 0x87
	h[2], h[3] = 0, 0             // Version-max, Version-min
	put24(h[5:8], uint32(dataLen))
	copy(h[8:14], []byte{0x00, 0x02, 0x3d, 0x00, 0x00, isidLow}) // ISID (OUI format)
	// TSIH 0 (new session), bytes 14-15
	binary.BigEndian.PutUint32(h[16:20], 1) // ITT
	// CID 0, bytes 20-21
	binary.BigEndian.PutUint32(h[24:28], cmdSN)
	binary.BigEndian.PutUint32(h[28:32], expStatSN)
	return h
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
		if h[0]&0x3f != opLoginResp {
			t.Fatalf("got opcode %#02x, want Login Response %#02x", h[0]&0x3f, opLoginResp)
		}
		if h[36] != 0 {
			t.Fatalf("login refused: status class %#02x detail %#02x", h[36], h[37])
		}
		for _, kv := range strings.Split(string(body), "\x00") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				keys[k] = v
			}
		}
		statSN := binary.BigEndian.Uint32(h[24:28])
		s.expStatSN = statSN + 1
		if h[1]&0x80 != 0 && h[1]&0x03 == 3 {
			break // transit to full feature phase
		}
		if step >= 3 {
			t.Fatalf("target did not complete the login after %d exchanges (flags %#02x, keys %v)", step+1, h[1], keys)
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
		switch op := h[0] & 0x3f; op {
		case opReject:
			reason := h[2]
			t.Logf("target sent Reject, reason %#02x (rejected header %x)", reason, body[:min(len(body), 8)])
			if len(reasons) > 0 && !slices.Contains(reasons, reason) {
				t.Fatalf("Reject reason %#02x, want one of %x", reason, reasons)
			}
			return
		case opNopIn:
			continue
		default:
			t.Fatalf("target answered with opcode %#02x, want Reject or a closed connection", op)
		}
	}
}

// readPDU reads one PDU (no digests) and returns its BHS and data segment (padding
// removed, AHS skipped).
func readPDU(c net.Conn, timeout time.Duration) (hdr, data []byte, err error) {
	_ = c.SetReadDeadline(time.Now().Add(timeout))
	hdr = make([]byte, bhsLen)
	if _, err := io.ReadFull(c, hdr); err != nil {
		return nil, nil, err
	}
	ahs := int(hdr[4]) * 4
	dl := int(hdr[5])<<16 | int(hdr[6])<<8 | int(hdr[7])
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

// put24 stores v as a 24-bit big-endian number.
func put24(b []byte, v uint32) {
	b[0], b[1], b[2] = byte(v>>16), byte(v>>8), byte(v)
}
