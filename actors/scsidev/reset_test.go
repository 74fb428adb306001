package scsidev

import (
	"testing"

	"github.com/atgt/atgt/messages/scsi"
)

// TestResetRestoresModeParameters: a reset returns the mode parameters to their
// saved values, or to their defaults where none were saved (SAM-5 6.3.3): SWP is
// never saved, so it is 0 again; WCE is the saved value if one was saved, else the
// configured default.
func TestResetRestoresModeParameters(t *testing.T) {
	for _, tt := range []struct {
		name  string
		saved *SavedModes
		want  bool
	}{
		{"nothing saved: the default", nil, true},
		{"saved WCE=0", &SavedModes{Seq: 1, WriteCache: false}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.SaveModes, cfg.Saved = true, tt.saved
			d := ready(t, cfg)
			for _, pg := range []byte{0x08, 0x0A} {
				r := exec(d, []byte{scsi.OpModeSense6, 0x08, pg, 0, 255, 0}, nil)
				page := append([]byte(nil), r.Data[4:]...)
				if pg == 0x08 {
					page[2] ^= 0x04 // WCE flipped, not saved
				} else {
					page[4] |= 0x08 // SWP
				}
				c, list := modeSelect6(page)
				if r := exec(d, c, list); r.Status != scsi.StatusGood {
					t.Fatalf("MODE SELECT page %#x: % x", pg, r.Sense)
				}
			}
			if d.WriteCacheEnabled() == tt.want || !d.swp {
				t.Fatal("MODE SELECT did not apply")
			}
			d.Reset()
			if d.WriteCacheEnabled() != tt.want {
				t.Fatalf("WCE after reset = %v, want %v", d.WriteCacheEnabled(), tt.want)
			}
			if r := exec(d, cdb10(scsi.OpWrite10, 0, 0, 1), make([]byte, 512)); r.Status != scsi.StatusGood {
				t.Fatalf("WRITE after reset: % x (SWP must be back to 0)", r.Sense)
			}
		})
	}
}
