package scsidev

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/atgt/atgt/messages/scsi"
)

// TestReportLUNsSelectReport: each SELECT REPORT value SPC-5 defines (6.33) is
// answered as the standard prescribes for a target with no well-known and no
// administrative or subsidiary logical units (no conglomerates); every other
// value is refused with ILLEGAL REQUEST, INVALID FIELD IN CDB whose field
// pointer names byte 2 (SKSV=1, C/D=1, BPV=0).
func TestReportLUNsSelectReport(t *testing.T) {
	cfg := testConfig()
	cfg.ListLUNs = func() []uint64 { return []uint64{300, 0, 1} }
	d := ready(t, cfg)
	all := []byte{0, 0, 0, 24, 0, 0, 0, 0, // LUN LIST LENGTH 24
		0, 0, 0, 0, 0, 0, 0, 0, // LUN 0
		0, 1, 0, 0, 0, 0, 0, 0, // LUN 1
		0x41, 0x2C, 0, 0, 0, 0, 0, 0} // LUN 300, flat space addressing
	empty := []byte{0, 0, 0, 0, 0, 0, 0, 0}
	invalidSelect := []byte{0x70, 0, 0x05, 0, 0, 0, 0, 10, 0, 0, 0, 0,
		0x24, 0x00, 0, 0xC0, 0x00, 0x02} // INVALID FIELD IN CDB, byte 2
	for _, tc := range []struct {
		sel         byte
		data, sense []byte
	}{
		{0x00, all, nil},           // the logical units (no well-known ones here)
		{0x01, empty, nil},         // well-known logical units: none
		{0x02, all, nil},           // every logical unit
		{0x03, nil, invalidSelect}, // reserved
		{0x0F, nil, invalidSelect}, // reserved
		{0x10, empty, nil},         // administrative logical units: none
		{0x11, all, nil},           // administrative LUs and LUs not subsidiary: all
		{0x12, nil, invalidSelect}, // not addressed to an administrative LU
		{0x13, nil, invalidSelect}, // reserved
		{0x80, nil, invalidSelect}, // reserved
		{0xF8, nil, invalidSelect}, // vendor specific: none defined
		{0xFF, nil, invalidSelect}, // vendor specific: none defined
	} {
		t.Run(fmt.Sprintf("%02Xh", tc.sel), func(t *testing.T) {
			r := exec(d, []byte{scsi.OpReportLUNs, 0, tc.sel, 0, 0, 0, 0, 0, 1, 0, 0, 0}, nil)
			if tc.sense != nil {
				if r.Status != scsi.StatusCheckCondition || !bytes.Equal(r.Sense, tc.sense) {
					t.Fatalf("status %#x sense % x, want CHECK CONDITION with % x", r.Status, r.Sense, tc.sense)
				}
				return
			}
			if r.Status != scsi.StatusGood || !bytes.Equal(r.Data, tc.data) {
				t.Fatalf("status %#x data % x, want GOOD with % x", r.Status, r.Data, tc.data)
			}
		})
	}
}
