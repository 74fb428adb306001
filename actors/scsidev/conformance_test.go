package scsidev

// Regression tests for the scsidev review's findings: each asserts what
// SBC-4/SPC-5 require.

import (
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
