package scsidev

// Regression tests for the scsidev review's findings: each asserts what
// SBC-4/SPC-5 require.

import (
	"bytes"
	"encoding/binary"
	"slices"
	"strings"
	"testing"

	"github.com/atgt/atgt/messages/scsi"
)

// WRITE AND VERIFY: BYTCHK is bits 2:1 of byte 1 (SBC-4 WRITE AND VERIFY); 10b is
// reserved and must be INVALID FIELD IN CDB, pointing at byte 1 bit 2.
func TestWriteAndVerifyReservedBytchk(t *testing.T) {
	d := ready(t, testConfig())
	for _, op := range []byte{scsi.OpWriteAndVerify10, scsi.OpWriteAndVerify16} {
		c := cdb10(op, 0x04, 0, 1)
		if op == scsi.OpWriteAndVerify16 {
			c = cdb16(op, 0x04, 0, 1)
		}
		r := exec(d, c, make([]byte, 512))
		if k, asc, _ := senseOf(r); k != scsi.SenseIllegalRequest || asc != 0x24 {
			t.Fatalf("%#x BYTCHK=10b: status %#x io %v, want INVALID FIELD IN CDB", op, r.Status, r.IO.Kind)
		}
		// SKSV, C/D, BPV with bit 2; field pointer byte 1.
		if r.Sense[15] != 0xCA || r.Sense[16] != 0 || r.Sense[17] != 1 {
			t.Fatalf("%#x BYTCHK=10b: sense-key specific % x, want ca 00 01", op, r.Sense[15:18])
		}
	}
	if r := exec(d, cdb10(scsi.OpWriteAndVerify10, 0x02, 0, 1), make([]byte, 512)); r.Status != scsi.StatusGood || !r.IO.Stable {
		t.Fatalf("WRITE AND VERIFY BYTCHK=01b: %+v", r)
	}
}

// REPORT LUNS that fails (allocation length < 16) transfers nothing: it must not
// clear REPORTED LUNS DATA HAS CHANGED (SPC-4 6.33); one that succeeds does.
func TestFailedReportLUNsKeepsUA(t *testing.T) {
	d := ready(t, testConfig())
	d.AddUnitAttention("a", scsi.ReportedLUNsChanged())
	r := exec(d, []byte{scsi.OpReportLUNs, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0}, nil)
	if r.Status != scsi.StatusCheckCondition {
		t.Fatalf("REPORT LUNS alloc 8: %+v", r)
	}
	r = exec(d, []byte{scsi.OpReportLUNs, 0, 0x03, 0, 0, 0, 0, 0, 0, 16, 0, 0}, nil)
	if r.Status != scsi.StatusCheckCondition {
		t.Fatalf("REPORT LUNS SELECT REPORT 3: %+v", r)
	}
	if r := exec(d, []byte{scsi.OpReportLUNs, 0, 0, 0, 0, 0, 0, 0, 0, 16, 0, 0}, nil); r.Status != scsi.StatusGood {
		t.Fatalf("REPORT LUNS: %+v", r)
	}
	if r := exec(d, cdb10(scsi.OpRead10, 0, 0, 1), nil); r.Status != scsi.StatusGood {
		t.Fatalf("after a good REPORT LUNS the unit attention must be gone: % x", r.Sense)
	}
	d.AddUnitAttention("a", scsi.ReportedLUNsChanged())
	exec(d, []byte{scsi.OpReportLUNs, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0}, nil)
	r = exec(d, cdb10(scsi.OpRead10, 0, 0, 1), nil)
	if k, asc, _ := senseOf(r); k != scsi.SenseUnitAttention || asc != 0x3F {
		t.Fatalf("next command after a failed REPORT LUNS: status %#x, want the REPORTED LUNS DATA HAS CHANGED unit attention", r.Status)
	}
}

// A WRITE(10) of 2 blocks whose data-out (the iSCSI EDTL) is 1000 bytes must not
// write a partial logical block: it is refused INVALID FIELD IN COMMAND
// INFORMATION UNIT. Whole-block underruns and overruns are written as before.
func TestWritePartialBlockRefused(t *testing.T) {
	d := ready(t, testConfig())
	r := exec(d, cdb10(scsi.OpWrite10, 0, 0, 2), make([]byte, 1000))
	if r.Status == scsi.StatusGood || r.IO.Length%512 != 0 {
		t.Fatalf("WRITE(10) 2 blocks with 1000 bytes of data: planned a %d-byte write (a torn logical block)", r.IO.Length)
	}
	if k, asc, ascq := senseOf(r); k != scsi.SenseIllegalRequest || asc != 0x0E || ascq != 0x03 {
		t.Fatalf("partial block: sense %#x %#x/%#x, want 05/0E/03", k, asc, ascq)
	}
	for _, c := range []struct{ data, want int }{{512, 512}, {1024, 1024}, {1536, 1024}, {1100, 1024}} {
		r := exec(d, cdb10(scsi.OpWrite10, 0, 0, 2), make([]byte, c.data))
		if r.Status != scsi.StatusGood || r.IO.Length != int64(c.want) {
			t.Fatalf("WRITE(10) 2 blocks with %d bytes: status %#x length %d, want GOOD %d", c.data, r.Status, r.IO.Length, c.want)
		}
	}
}

// Standard INQUIRY sets 3PC (byte 5 bit 3) because EXTENDED COPY is served
// (SPC-4 6.6.2), and the Third-party Copy VPD page 0x8F is then offered (SPC-4
// 7.8.17) with the limits EXTENDED COPY enforces, in the form libiscsi's
// test_inquiry_vpd_third_party_copy checks.
func TestInquiry3PCAndThirdPartyCopyVPD(t *testing.T) {
	d := ready(t, testConfig())
	r := exec(d, []byte{scsi.OpInquiry, 0, 0, 0, 96, 0}, nil)
	if r.Status != 0 || len(r.Data) < 8 {
		t.Fatalf("INQUIRY: %+v", r)
	}
	if r.Data[5]&0x08 == 0 {
		t.Fatalf("EXTENDED COPY is supported but standard INQUIRY byte 5 = %#x has no 3PC", r.Data[5])
	}
	r = exec(d, []byte{scsi.OpInquiry, 1, 0x00, 0, 255, 0}, nil)
	if !bytes.Contains(r.Data[4:], []byte{0x83, 0x8F, 0xB0}) {
		t.Fatalf("Supported VPD pages % x: no 0x8F in order", r.Data)
	}
	r = exec(d, []byte{scsi.OpInquiry, 1, 0x8F, 0x04, 0, 0}, nil)
	if r.Status != scsi.StatusGood {
		t.Fatalf("VPD 0x8F: % x", r.Sense)
	}
	want := []byte{
		0x00, 0x8F, 0x00, 0x60,
		// Supported Commands: 83h/00h, 84h/00h,03h, padded.
		0x00, 0x01, 0x00, 0x08, 0x07, 0x83, 0x01, 0x00, 0x84, 0x02, 0x00, 0x03,
		// Parameter Data (SPC-4 table 648): 4 reserved bytes, then 8 CSCD
		// descriptors, 64 segments, 2048 bytes of list, no inline data.
		0x00, 0x04, 0x00, 0x1C, 0, 0, 0, 0, 0x00, 0x08, 0x00, 0x40, 0x00, 0x00, 0x08, 0x00,
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		// Supported Descriptors: block to block segment, identification CSCD.
		0x00, 0x08, 0x00, 0x04, 0x02, 0x02, 0xE4, 0x00,
		// Supported CSCD Descriptor IDs: none.
		0x00, 0x0C, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00,
		// General Copy Operations: 16 copies, 16 identified, 65535 blocks of 512, granularity 2^9.
		0x80, 0x01, 0x00, 0x20, 0, 0, 0, 16, 0, 0, 0, 16, 0x01, 0xFF, 0xFE, 0x00, 9, 0,
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	}
	if !bytes.Equal(r.Data, want) {
		t.Fatalf("VPD 0x8F\n% x\nwant\n% x", r.Data, want)
	}
	// SPC-4 6.18.4: RECEIVE COPY RESULTS (OPERATING PARAMETERS) reports the
	// same limits as the page's Parameter Data descriptor (page bytes 16..47).
	pd := r.Data[16:48]
	rcr := make([]byte, 16)
	rcr[0], rcr[1] = scsi.OpReceiveCopyResults, scsi.SAOperatingParameters
	binary.BigEndian.PutUint32(rcr[10:14], 1024)
	op := exec(d, rcr, nil)
	if op.Status != scsi.StatusGood || len(op.Data) < 20 {
		t.Fatalf("RECEIVE COPY RESULTS: %+v", op)
	}
	for _, f := range []struct {
		name     string
		vpd, rcr []byte
	}{
		{"MAXIMUM CSCD DESCRIPTOR COUNT", pd[8:10], op.Data[8:10]},
		{"MAXIMUM SEGMENT DESCRIPTOR COUNT", pd[10:12], op.Data[10:12]},
		{"MAXIMUM DESCRIPTOR LIST LENGTH", pd[12:16], op.Data[12:16]},
	} {
		if !bytes.Equal(f.vpd, f.rcr) {
			t.Errorf("%s: VPD 0x8F % x, RECEIVE COPY RESULTS % x", f.name, f.vpd, f.rcr)
		}
	}
}

// MULTIP (standard INQUIRY byte 6 bit 4) is set when the logical unit is reached
// through more than one target port: one per ALUA target port group here.
func TestInquiryMultiP(t *testing.T) {
	r := exec(ready(t, aluaConfig()), []byte{scsi.OpInquiry, 0, 0, 0, 96, 0}, nil)
	if r.Data[6]&0x10 == 0 {
		t.Fatalf("two target port groups: byte 6 = %#x, want MULTIP", r.Data[6])
	}
	r = exec(ready(t, testConfig()), []byte{scsi.OpInquiry, 0, 0, 0, 96, 0}, nil)
	if r.Data[6]&0x10 != 0 {
		t.Fatalf("one target port: byte 6 = %#x, want no MULTIP", r.Data[6])
	}
}

// pending drains nexus a's unit attentions, in the order they are reported.
func pending(d *Device) [][2]uint8 {
	var got [][2]uint8
	for ua := d.popUnitAttention("a"); ua != nil; ua = d.popUnitAttention("a") {
		got = append(got, [2]uint8{ua.ASC, ua.ASCQ})
	}
	return got
}

// Unit attention conditions are reported by SAM-5 5.14's priority: a reset goes
// ahead of the conditions established before it and supersedes the reset
// conditions it ranks above; a full queue drops the lowest ranked, never a reset.
func TestUnitAttentionPriority(t *testing.T) {
	other := func(ascq uint8) *scsi.SenseError {
		return &scsi.SenseError{Key: scsi.SenseUnitAttention, ASC: 0x2A, ASCQ: ascq}
	}
	for _, tt := range []struct {
		name string
		add  []*scsi.SenseError
		want [][2]uint8
	}{
		{"a reset is reported before older conditions",
			[]*scsi.SenseError{scsi.ModeParametersChanged(), scsi.CapacityDataChanged(), scsi.BusDeviceReset()},
			[][2]uint8{{0x29, 0x03}, {0x2A, 0x01}, {0x2A, 0x09}}},
		{"POWER ON replaces a pending LOGICAL UNIT RESET",
			[]*scsi.SenseError{scsi.BusDeviceReset(), scsi.ModeParametersChanged(), scsi.PowerOnReset()},
			[][2]uint8{{0x29, 0x00}, {0x2A, 0x01}}},
		{"a LOGICAL UNIT RESET adds nothing to a pending POWER ON",
			[]*scsi.SenseError{scsi.PowerOnReset(), scsi.BusDeviceReset()},
			[][2]uint8{{0x29, 0x00}}},
		{"a full queue keeps the reset and drops the oldest other",
			[]*scsi.SenseError{scsi.BusDeviceReset(), other(1), other(2), other(3), other(4), other(5), other(6), other(7), other(8), other(9)},
			[][2]uint8{{0x29, 0x03}, {0x2A, 3}, {0x2A, 4}, {0x2A, 5}, {0x2A, 6}, {0x2A, 7}, {0x2A, 8}, {0x2A, 9}}},
		{"a reset into a full queue of others is kept",
			[]*scsi.SenseError{other(1), other(2), other(3), other(4), other(5), other(6), other(7), other(8), scsi.BusDeviceReset()},
			[][2]uint8{{0x29, 0x03}, {0x2A, 2}, {0x2A, 3}, {0x2A, 4}, {0x2A, 5}, {0x2A, 6}, {0x2A, 7}, {0x2A, 8}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := ready(t, testConfig())
			for _, e := range tt.add {
				d.AddUnitAttention("a", e)
			}
			if got := pending(d); !slices.Equal(got, tt.want) {
				t.Fatalf("reported % x, want % x", got, tt.want)
			}
		})
	}
}

// The serial number is one identity: VPD 0x80 and the T10 vendor ID
// designator of VPD 0x83 (code set ASCII, SPC-4 7.8.6.4) carry the same
// printable ASCII bytes, however the embedder's Config spelled it.
func TestSerialSameInVPD80And83(t *testing.T) {
	for _, serial := range []string{"disk\u00e9\t1", "SN-42", strings.Repeat("x", 300)} {
		c := testConfig()
		c.SerialNumber = serial
		d := ready(t, c)
		p80 := exec(d, []byte{scsi.OpInquiry, 1, 0x80, 0x01, 0x00, 0}, nil)
		p83 := exec(d, []byte{scsi.OpInquiry, 1, 0x83, 0x01, 0x00, 0}, nil)
		if p80.Status != scsi.StatusGood || p83.Status != scsi.StatusGood {
			t.Fatalf("%q: VPD 80 %+v, 83 %+v", serial, p80, p83)
		}
		s80 := p80.Data[4:]
		var t10 []byte
		for off := 4; off+4 <= len(p83.Data); off += 4 + int(p83.Data[off+3]) {
			if p83.Data[off+1]&0x0F == 1 { // T10 vendor ID
				t10 = p83.Data[off+4 : off+4+int(p83.Data[off+3])]
			}
		}
		if len(t10) < 8 || !bytes.Equal(t10[8:], s80) {
			t.Errorf("%q: T10 designator %q, VPD 0x80 serial %q: two identities", serial, t10, s80)
		}
		for _, ch := range t10 {
			if ch < 0x20 || ch > 0x7E {
				t.Errorf("%q: T10 designator %q has byte %#x, not printable ASCII", serial, t10, ch)
				break
			}
		}
		if len(s80) > MaxSerialLength || (len(serial) < MaxSerialLength && len(s80) != len(serial)) {
			t.Errorf("%q: VPD 0x80 serial has %d bytes", serial, len(s80))
		}
	}
}
