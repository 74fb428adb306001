package scsidev

import (
	"bytes"
	"encoding/binary"
	"testing"

	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/scsi"
)

func sanitizeConfig(thin bool) Config {
	c := testConfig()
	c.AllowSanitize, c.Thin, c.UnmapReadsZero = true, thin, thin
	return c
}

func sanitizeCDB(b1 byte, plen uint16) []byte {
	c := make([]byte, 10)
	c[0], c[1] = scsi.OpSanitize, b1
	binary.BigEndian.PutUint16(c[7:9], plen)
	return c
}

// overwriteList is an OVERWRITE parameter list with count passes of pattern.
func overwriteList(count byte, pattern []byte) []byte {
	p := []byte{count, 0, 0, 0}
	binary.BigEndian.PutUint16(p[2:4], uint16(len(pattern)))
	return append(p, pattern...)
}

func TestSanitizeCDB(t *testing.T) {
	full := overwriteList(1, bytes.Repeat([]byte{0xAA}, 512))
	withByte := func(c []byte, i int, v byte) []byte { c[i] = v; return c }
	tests := []struct {
		name     string
		allow    bool
		thin     bool
		cdb      []byte
		out      []byte
		key, asc uint8
		io       pb.IoKind
	}{
		{"not allowed", false, true, sanitizeCDB(1, uint16(len(full))), full, 5, 0x20, pb.IoKind_IO_KIND_UNSPECIFIED},
		{"overwrite", true, false, sanitizeCDB(1, uint16(len(full))), full, 0, 0, pb.IoKind_IO_KIND_SANITIZE_OVERWRITE},
		{"overwrite immed", true, false, sanitizeCDB(0x81, uint16(len(full))), full, 0, 0, pb.IoKind_IO_KIND_SANITIZE_OVERWRITE},
		{"overwrite 4-byte pattern", true, false, sanitizeCDB(1, 8), overwriteList(2, []byte{1, 2, 3, 4}), 0, 0, pb.IoKind_IO_KIND_SANITIZE_OVERWRITE},
		{"overwrite param len 4", true, false, sanitizeCDB(1, 4), full, 5, 0x24, pb.IoKind_IO_KIND_UNSPECIFIED},
		{"overwrite param len block+5", true, false, sanitizeCDB(1, 517), append(full, 0), 5, 0x24, pb.IoKind_IO_KIND_UNSPECIFIED},
		{"overwrite count 0", true, false, sanitizeCDB(1, uint16(len(full))), overwriteList(0, full[4:]), 5, 0x26, pb.IoKind_IO_KIND_UNSPECIFIED},
		{"overwrite pattern length 0", true, false, sanitizeCDB(1, 8), []byte{1, 0, 0, 0, 0, 0, 0, 0}, 5, 0x26, pb.IoKind_IO_KIND_UNSPECIFIED},
		{"overwrite pattern too long", true, false, sanitizeCDB(1, 516), withByte(append([]byte(nil), full...), 2, 0x04), 5, 0x26, pb.IoKind_IO_KIND_UNSPECIFIED},
		{"reserved bit", true, false, sanitizeCDB(0x41, uint16(len(full))), full, 5, 0x24, pb.IoKind_IO_KIND_UNSPECIFIED},
		{"reserved byte", true, false, withByte(sanitizeCDB(1, uint16(len(full))), 3, 3), full, 5, 0x24, pb.IoKind_IO_KIND_UNSPECIFIED},
		{"block erase thin", true, true, sanitizeCDB(2, 0), nil, 0, 0, pb.IoKind_IO_KIND_SANITIZE_ERASE},
		{"block erase thick", true, false, sanitizeCDB(2, 0), nil, 5, 0x24, pb.IoKind_IO_KIND_UNSPECIFIED},
		{"block erase with parameters", true, true, sanitizeCDB(2, 8), make([]byte, 8), 5, 0x24, pb.IoKind_IO_KIND_UNSPECIFIED},
		{"crypto erase", true, true, sanitizeCDB(3, 0), nil, 5, 0x24, pb.IoKind_IO_KIND_UNSPECIFIED},
		{"exit failure mode", true, true, sanitizeCDB(0x1F, 0), nil, 0, 0, pb.IoKind_IO_KIND_UNSPECIFIED},
		{"exit failure mode with parameters", true, true, sanitizeCDB(0x1F, 8), make([]byte, 8), 5, 0x24, pb.IoKind_IO_KIND_UNSPECIFIED},
		{"service action 0", true, true, sanitizeCDB(0, 0), nil, 5, 0x24, pb.IoKind_IO_KIND_UNSPECIFIED},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := sanitizeConfig(tc.thin)
			cfg.AllowSanitize = tc.allow
			d := ready(t, cfg)
			res := exec(d, tc.cdb, tc.out)
			if tc.key == 0 {
				if res.Status != scsi.StatusGood || res.IO.Kind != tc.io {
					t.Fatalf("status %d io %d, want GOOD io %d (sense %x)", res.Status, res.IO.Kind, tc.io, res.Sense)
				}
				return
			}
			if k, a, _ := senseOf(res); k != tc.key || a != tc.asc {
				t.Fatalf("sense %x/%02x, want %x/%02x", k, a, tc.key, tc.asc)
			}
		})
	}
}

func TestSanitizeState(t *testing.T) {
	d := ready(t, sanitizeConfig(true))
	pattern := []byte{0xDE, 0xAD, 0xBE, 0xEF}
	res := exec(d, sanitizeCDB(0x81, 8), overwriteList(3, pattern))
	if res.IO.Kind != pb.IoKind_IO_KIND_SANITIZE_OVERWRITE || !res.IO.Immediate || res.IO.Passes != 3 || res.IO.Length != 1000*512 ||
		!bytes.Equal(res.IO.Data, bytes.Repeat(pattern, 128)) || !res.IO.Kind.Exclusive() {
		t.Fatalf("plan %+v", res.IO)
	}
	tur := []byte{scsi.OpTestUnitReady, 0, 0, 0, 0, 0}
	if k, a, q := senseOf(exec(d, tur, nil)); k != 2 || a != 0x04 || q != 0x1B {
		t.Fatalf("TUR while sanitizing: %x/%02x/%02x", k, a, q)
	}
	// A unit attention waits behind the sanitize.
	d.AddUnitAttention("", scsi.BusDeviceReset())
	if se := d.notReady(scsi.OpRead16); se == nil || se.ASCQ != 0x1B {
		t.Fatalf("READ while sanitizing: %v", se)
	}
	if d.notReady(scsi.OpInquiry) != nil || d.notReady(scsi.OpReportLUNs) != nil {
		t.Fatal("INQUIRY and REPORT LUNS must run during a sanitize")
	}
	rs := exec(d, []byte{scsi.OpRequestSense, 0, 0, 0, 18, 0}, nil)
	if rs.Status != scsi.StatusGood || rs.Data[2] != 2 || rs.Data[13] != 0x1B {
		t.Fatalf("REQUEST SENSE while sanitizing: %x", rs.Data)
	}
	d.IODone(res.IO.Token, scsi.WriteError())
	if k, a, _ := senseOf(exec(d, tur, nil)); k != 6 || a != 0x29 {
		t.Fatalf("after the sanitize the unit attention comes first: %x/%02x", k, a)
	}
	read := cdb10(scsi.OpRead10, 0, 0, 1)
	if k, a, q := senseOf(exec(d, read, nil)); k != 3 || a != 0x31 || q != 0x03 {
		t.Fatalf("READ after a failed sanitize: %x/%02x/%02x", k, a, q)
	}
	if r := exec(d, sanitizeCDB(0x1F, 0), nil); r.Status != scsi.StatusGood {
		t.Fatalf("EXIT FAILURE MODE: %x", r.Sense)
	}
	if r := exec(d, read, nil); r.IO.Kind != pb.IoKind_IO_KIND_READ {
		t.Fatalf("READ after EXIT FAILURE MODE: %+v", r)
	}
}

func TestSanitizeWriteProtected(t *testing.T) {
	cfg := sanitizeConfig(true)
	cfg.ReadOnly = true
	d := ready(t, cfg)
	if k, a, _ := senseOf(exec(d, sanitizeCDB(2, 0), nil)); k != 7 || a != 0x27 {
		t.Fatalf("read-only LU: %x/%02x, want DATA PROTECT", k, a)
	}
}

func TestSanitizeReported(t *testing.T) {
	for _, tc := range []struct {
		name        string
		allow, thin bool
		sas         []uint16
		wabereq     byte
	}{
		{"disabled", false, true, nil, 0},
		{"thick", true, false, []uint16{1, 0x1F}, 0},
		{"thin", true, true, []uint16{1, 2, 0x1F}, 0x40},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := sanitizeConfig(tc.thin)
			cfg.AllowSanitize = tc.allow
			d := New(cfg)
			var got []uint16
			for sa := uint16(0); sa <= 0x1F; sa++ {
				if d.supports(scsi.OpSanitize, sa) {
					got = append(got, sa)
				}
			}
			if len(got) != len(tc.sas) {
				t.Fatalf("service actions %v, want %v", got, tc.sas)
			}
			for i := range got {
				if got[i] != tc.sas[i] {
					t.Fatalf("service actions %v, want %v", got, tc.sas)
				}
			}
			if b := d.blockDeviceCharacteristics(); b[3]&0xC0 != tc.wabereq {
				t.Errorf("WABEREQ byte %02x, want %02x", b[3]&0xC0, tc.wabereq)
			}
		})
	}
}

// TestSanitizeBlockEraseNeedsZeroReads: on a thin LU whose deallocated blocks need
// not read as zeros (a block device: no LBPRZ), a discard could leave the old data
// readable, so BLOCK ERASE is refused (INVALID FIELD IN CDB, service action) and
// not reported, while OVERWRITE still works.
func TestSanitizeBlockEraseNeedsZeroReads(t *testing.T) {
	cfg := sanitizeConfig(true)
	cfg.UnmapReadsZero = false
	d := ready(t, cfg)
	res := exec(d, sanitizeCDB(2, 0), nil)
	if k, a, _ := senseOf(res); k != scsi.SenseIllegalRequest || a != 0x24 || res.IO.Kind != pb.IoKind_IO_KIND_UNSPECIFIED {
		t.Fatalf("BLOCK ERASE without LBPRZ: sense %x/%02x io %v, want INVALID FIELD IN CDB and no IO", k, a, res.IO.Kind)
	}
	if d.supports(scsi.OpSanitize, scsi.SASanitizeBlockErase) {
		t.Error("BLOCK ERASE reported as supported without LBPRZ")
	}
	if b := d.blockDeviceCharacteristics(); b[3]&0xC0 != 0 {
		t.Errorf("WABEREQ %02x without BLOCK ERASE, want 0", b[3]&0xC0)
	}
	full := overwriteList(1, bytes.Repeat([]byte{0xAA}, 512))
	if res := exec(d, sanitizeCDB(1, uint16(len(full))), full); res.Status != scsi.StatusGood || res.IO.Kind != pb.IoKind_IO_KIND_SANITIZE_OVERWRITE {
		t.Fatalf("OVERWRITE without LBPRZ: status %d io %v, want GOOD and an overwrite", res.Status, res.IO.Kind)
	}
}

// TestSanitizeFailedRefusesMediumAccess: after a failed SANITIZE every medium
// access command is MEDIUM ERROR, SANITIZE COMMAND FAILED, also one that would
// transfer nothing; INQUIRY and REQUEST SENSE run.
func TestSanitizeFailedRefusesMediumAccess(t *testing.T) {
	d := ready(t, sanitizeConfig(false))
	res := exec(d, sanitizeCDB(0x01, 8), overwriteList(1, []byte{1, 2, 3, 4}))
	d.IODone(res.IO.Token, scsi.WriteError())
	for _, c := range []struct {
		name string
		cdb  []byte
	}{
		{"READ(10) of 0 blocks", cdb10(scsi.OpRead10, 0, 0, 0)},
		{"VERIFY(10) BYTCHK=0", cdb10(scsi.OpVerify10, 0, 0, 8)},
		{"WRITE(16) of 0 blocks", cdb16(scsi.OpWrite16, 0, 0, 0)},
		{"PRE-FETCH(10)", cdb10(scsi.OpPrefetch10, 0, 0, 1)},
	} {
		if k, a, q := senseOf(exec(d, c.cdb, nil)); k != scsi.SenseMediumError || a != 0x31 || q != 0x03 {
			t.Errorf("%s after a failed sanitize: %x/%02x/%02x, want 03/31/03", c.name, k, a, q)
		}
	}
	for _, c := range [][]byte{{scsi.OpInquiry, 0, 0, 0, 96, 0}, {scsi.OpRequestSense, 0, 0, 0, 18, 0}} {
		if r := exec(d, c, nil); r.Status != scsi.StatusGood {
			t.Errorf("%#x after a failed sanitize: % x", c[0], r.Sense)
		}
	}
}

// TestSanitizeProgress: during a sanitize REQUEST SENSE reports the progress
// indication (SKSV, bytes 16-17) the worker publishes, and so does the NOT READY
// of a refused command.
func TestSanitizeProgress(t *testing.T) {
	d := ready(t, sanitizeConfig(false))
	d.SetSanitizeProgress(func() uint16 { return 0x1234 })
	exec(d, sanitizeCDB(0x81, 8), overwriteList(1, []byte{1, 2, 3, 4}))
	rs := exec(d, []byte{scsi.OpRequestSense, 0, 0, 0, 18, 0}, nil)
	if rs.Status != scsi.StatusGood || rs.Data[13] != 0x1B || !bytes.Equal(rs.Data[15:18], []byte{0x80, 0x12, 0x34}) {
		t.Fatalf("REQUEST SENSE while sanitizing: % x, want 04/1B with progress 80 12 34", rs.Data)
	}
	r := exec(d, []byte{scsi.OpTestUnitReady, 0, 0, 0, 0, 0}, nil)
	if !bytes.Equal(r.Sense[15:18], []byte{0x80, 0x12, 0x34}) {
		t.Fatalf("TUR while sanitizing: % x, want the progress", r.Sense)
	}
}
