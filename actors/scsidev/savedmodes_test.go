package scsidev

import (
	"testing"

	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/scsi"
)

// senseCaching returns the WCE bit MODE SENSE(6) reports for the Caching
// page with page control pc, or the result when it is not GOOD.
func senseCaching(t *testing.T, d *Device, pc byte) (bool, Result) {
	t.Helper()
	r := exec(d, []byte{scsi.OpModeSense6, 0x08, pc<<6 | 0x08, 0, 255, 0}, nil)
	if r.Status != scsi.StatusGood {
		return false, r
	}
	return r.Data[4+2]&0x04 != 0, r
}

func TestSavedModes(t *testing.T) {
	saved := &SavedModes{Seq: 7, WriteCache: false}
	tests := []struct {
		name         string
		saveModes    bool
		saved        *SavedModes
		wantCurrent  bool
		wantSaved    bool
		wantSPRefuse bool
	}{
		{"saving disabled", false, nil, true, false, true},
		{"nothing saved yet: saved is the config default", true, nil, true, true, false},
		{"saved WCE=0 overrides the config", true, saved, false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.WriteCache, cfg.SaveModes, cfg.Saved = true, tt.saveModes, tt.saved
			d := ready(t, cfg)
			if got, _ := senseCaching(t, d, pcCurrent); got != tt.wantCurrent {
				t.Fatalf("current WCE = %v, want %v", got, tt.wantCurrent)
			}
			if got, _ := senseCaching(t, d, pcDefault); !got {
				t.Fatal("default WCE must stay the config's")
			}
			got, r := senseCaching(t, d, pcSaved)
			if !tt.saveModes {
				if k, asc, _ := senseOf(r); k != scsi.SenseIllegalRequest || asc != 0x39 {
					t.Fatalf("PC=saved without saving: %#x/%#x, want SAVING PARAMETERS NOT SUPPORTED", k, asc)
				}
			} else if got != tt.wantSaved {
				t.Fatalf("saved WCE = %v, want %v", got, tt.wantSaved)
			}

			// MODE SELECT with SP=1 flipping WCE.
			_, cur := senseCaching(t, d, pcCurrent)
			page := append([]byte(nil), cur.Data[4:]...)
			page[0] &^= 0x80 // PS is reserved in MODE SELECT
			page[2] ^= 0x04
			c, list := modeSelect6(page)
			c[1] |= 0x01
			r = exec(d, c, list)
			if tt.wantSPRefuse {
				if k, asc, _ := senseOf(r); k != scsi.SenseIllegalRequest || asc != 0x24 {
					t.Fatalf("SP=1 without saving: %#x/%#x, want INVALID FIELD IN CDB", k, asc)
				}
				if r.IO.Kind != pb.IoKind_IO_KIND_UNSPECIFIED {
					t.Fatal("refused MODE SELECT asks to save")
				}
				return
			}
			if r.Status != scsi.StatusGood || r.IO.Kind != pb.IoKind_IO_KIND_SAVE_MODE_PAGES || r.IO.Data == nil {
				t.Fatalf("SP=1: status %d, plan %v %q", r.Status, r.IO.Kind, r.IO.Data)
			}
			if r.IO.Kind.Medium() || r.IO.Kind.Writes() {
				t.Fatal("saving mode pages must not be ordered as medium IO")
			}
			want := !tt.wantCurrent
			if r.IO.Stable != !want {
				t.Fatalf("SP=1 turning WCE to %v: flush first = %v, want %v", want, r.IO.Stable, !want)
			}
			st, err := ParseSavedModes(r.IO.Data)
			if err != nil || st.WriteCache != want || (tt.saved != nil && st.Seq <= tt.saved.Seq) {
				t.Fatalf("saved state %+v, %v; want WCE %v with a newer seq", st, err, want)
			}
			if d.WriteCacheEnabled() == want {
				t.Fatal("SP=1 changed the current WCE before the save was durable")
			}
			d.IODone(r.IO.Token, nil)
			if got, _ := senseCaching(t, d, pcSaved); got != want {
				t.Fatalf("saved WCE after SP=1 = %v, want %v", got, want)
			}
			if d.WriteCacheEnabled() != want {
				t.Fatal("SP=1 did not change the current WCE")
			}
			// SP=0 changes only the current value; turning WCE off flushes the
			// cache (a sync of the whole medium) before GOOD.
			page[2] ^= 0x04
			c, list = modeSelect6(page)
			wantPlan := pb.IoKind_IO_KIND_UNSPECIFIED
			if want {
				wantPlan = pb.IoKind_IO_KIND_SYNC
			}
			if r := exec(d, c, list); r.Status != scsi.StatusGood || r.IO.Kind != wantPlan || (want && !r.IO.Stable) {
				t.Fatalf("SP=0: status %d, plan %v stable %v; want %v", r.Status, r.IO.Kind, r.IO.Stable, wantPlan)
			}
			if got, _ := senseCaching(t, d, pcSaved); got != want {
				t.Fatal("SP=0 changed the saved WCE")
			}
		})
	}
}

func TestParseSavedModes(t *testing.T) {
	tests := []struct {
		name    string
		data    string
		want    SavedModes
		wantErr bool
	}{
		{"round trip", string(SavedModes{Seq: 3, WriteCache: true}.Marshal()), SavedModes{Seq: 3, WriteCache: true}, false},
		{"unknown version", `{"version":2,"seq":1}`, SavedModes{}, true},
		{"corrupt", `{"version":1,`, SavedModes{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSavedModes([]byte(tt.data))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("ParseSavedModes = %+v, %v", got, err)
			}
		})
	}
}

// TestModeSelectSaveFails: MODE SELECT with SP=1 whose save is not made durable
// changes nothing: the current and saved values stay, MODE SENSE reports the old
// saved value, and no other nexus is told of a change.
func TestModeSelectSaveFails(t *testing.T) {
	cfg := testConfig()
	cfg.WriteCache, cfg.SaveModes = true, true
	d := ready(t, cfg)
	d.Execute(&Request{CDB: []byte{0, 0, 0, 0, 0, 0}, Nexus: "b"}, nil) // b has consumed its POWER ON
	_, cur := senseCaching(t, d, pcCurrent)
	page := append([]byte(nil), cur.Data[4:]...)
	page[0] &^= 0x80
	page[2] &^= 0x04 // WCE=0
	c, list := modeSelect6(page)
	c[1] |= 0x01
	r := exec(d, c, list)
	if r.Status != scsi.StatusGood || r.IO.Kind != pb.IoKind_IO_KIND_SAVE_MODE_PAGES || r.IO.Token == 0 {
		t.Fatalf("SP=1: %+v", r)
	}
	d.IODone(r.IO.Token, scsi.WriteError())
	if !d.WriteCacheEnabled() {
		t.Fatal("a failed save changed the current WCE")
	}
	if got, _ := senseCaching(t, d, pcSaved); !got {
		t.Fatal("a failed save changed the saved WCE MODE SENSE reports")
	}
	if r := d.Execute(&Request{CDB: []byte{0, 0, 0, 0, 0, 0}, Nexus: "b"}, nil); r.Status != scsi.StatusGood {
		t.Fatalf("nexus b told of a change that did not happen: % x", r.Sense)
	}
	// The next save that succeeds applies, with a newer sequence number.
	r2 := exec(d, c, list)
	st, _ := ParseSavedModes(r2.IO.Data)
	st1, _ := ParseSavedModes(r.IO.Data)
	if st.Seq <= st1.Seq {
		t.Fatalf("sequence %d after a failed save with %d", st.Seq, st1.Seq)
	}
	d.IODone(r2.IO.Token, nil)
	if d.WriteCacheEnabled() {
		t.Fatal("a durable save did not apply")
	}
}
