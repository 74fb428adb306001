package reservation

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestAPTPLRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "lun0.img.pr")
	tb := New()
	out := prout(t, tb, nexusA, SARegister, 0, 0, 0xA, 0)
	if out.Persist != nil {
		t.Fatal("Persist without APTPL")
	}
	out = prout(t, tb, nexusB, SARegister, 0, 0, 0xB, 0x01|0x04)
	if out.Persist == nil {
		t.Fatal("no Persist after REGISTER with APTPL")
	}
	if err := WriteStateFile(path, out.Persist); err != nil {
		t.Fatal(err)
	}
	out = prout(t, tb, nexusB, SAReserve, TypeExclusiveAccessRegistrantsOnly, 0xB, 0, 0)
	if out.Persist == nil {
		t.Fatal("no Persist after RESERVE with APTPL")
	}
	stale := out.Persist
	out = prout(t, tb, nexusA, SARegister, 0, 0xA, 0xAA, 0x01)
	if err := WriteStateFile(path, out.Persist); err != nil {
		t.Fatal(err)
	}
	// An older snapshot finishing late must not win.
	if err := WriteStateFile(path, stale); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}

	got, err := LoadState(path)
	if err != nil {
		t.Fatal(err)
	}
	g0, k0 := readKeys(t, tb, nexusA)
	g1, k1 := readKeys(t, got, nexusA)
	// SPC-4 6.16.2: the PRgeneration is zero after a power on, whatever APTPL.
	if g0 == 0 || g1 != 0 || !slices.Equal(k0, k1) || !slices.Equal(k1, []uint64{0xAA, 0xB}) {
		t.Errorf("restored keys %x gen %d, want %x gen 0 (was %d)", k1, g1, k0, g0)
	}
	if ok, key, typ := readReservation(t, got, nexusA); !ok || key != 0xB || typ != TypeExclusiveAccessRegistrantsOnly {
		t.Errorf("restored reservation %v %x %d", ok, key, typ)
	}
	if !got.find(nexusB.ID).allTG {
		t.Error("ALL_TG_PT lost")
	}
	if got.Check(nexusA, write10()) || !got.Check(nexusC, read10()) {
		t.Error("restored reservation does not govern access")
	}
	if caps := exec(t, got, nexusA, prinCDB(SAReportCapabilities, 8), nil).Data; caps[3]&1 == 0 {
		t.Error("PTPL_A clear after restore")
	}

	// APTPL off: the next snapshot empties the file.
	out = prout(t, got, nexusA, SARegister, 0, 0xAA, 0xAB, 0)
	if out.Persist == nil {
		t.Fatal("no Persist when APTPL is turned off")
	}
	if err := WriteStateFile(path, out.Persist); err != nil {
		t.Fatal(err)
	}
	empty, err := LoadState(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, keys := readKeys(t, empty, nexusA); len(keys) != 0 || empty.res != nil || empty.aptpl {
		t.Errorf("state survived with APTPL off: %x %+v", keys, empty.res)
	}
	if out := prout(t, got, nexusA, SARegister, 0, 0xAB, 0xAC, 0); out.Persist != nil {
		t.Error("Persist while APTPL stays off")
	}
}

func TestLoadStateMissing(t *testing.T) {
	tb, err := LoadState(filepath.Join(t.TempDir(), "none"))
	if err != nil || tb == nil || len(tb.regs) != 0 {
		t.Fatalf("missing file: %v %v", tb, err)
	}
}

func TestLoadStateCorrupt(t *testing.T) {
	valid := `{"format":"atgt-persistent-reservations","version":1,"seq":5,"aptpl":true,"generation":2,` +
		`"registrations":[{"nexus":"iqn.a,i,0x000000000001","key":10,"relativeTargetPort":1}],` +
		`"reservation":{"holder":"iqn.a,i,0x000000000001","type":1}}`
	tests := []struct {
		name, data string
	}{
		{"empty", ""},
		{"truncated", valid[:len(valid)/2]},
		{"garbage", "\x00\x01\x02"},
		{"trailing data", valid + "{}"},
		{"wrong format", strings.Replace(valid, "atgt-persistent-reservations", "x", 1)},
		{"future version", strings.Replace(valid, `"version":1`, `"version":2`, 1)},
		{"unknown field", strings.Replace(valid, `"seq"`, `"bogus":1,"seq"`, 1)},
		{"zero key", strings.Replace(valid, `"key":10`, `"key":0`, 1)},
		{"bad type", strings.Replace(valid, `"type":1`, `"type":2`, 1)},
		{"holder not registered", strings.Replace(valid, `"holder":"iqn.a,i,0x000000000001"`, `"holder":"iqn.b"`, 1)},
		{"duplicate", strings.Replace(valid, `"registrations":[`, `"registrations":[{"nexus":"iqn.a,i,0x000000000001","key":9,"relativeTargetPort":1},`, 1)},
		{"registrations with APTPL off", strings.Replace(valid, `"aptpl":true`, `"aptpl":false`, 1)},
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	if err := os.WriteFile(good, []byte(valid), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadState(good); err != nil {
		t.Fatalf("valid file: %v", err)
	}
	for _, tc := range tests {
		p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_"))
		if err := os.WriteFile(p, []byte(tc.data), 0o600); err != nil {
			t.Fatal(err)
		}
		tb, err := LoadState(p)
		if err == nil {
			t.Errorf("%s: loaded %+v", tc.name, tb)
			continue
		}
		if !strings.Contains(err.Error(), "corrupt") || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: error %q does not say the file is corrupt", tc.name, err)
		}
		if err := WriteStateFile(p, []byte(tc.data)); err == nil {
			t.Errorf("%s: WriteStateFile accepted it", tc.name)
		}
	}
}

func TestWriteStateFileErrors(t *testing.T) {
	tb := New()
	out := prout(t, tb, nexusA, SARegister, 0, 0, 1, 0x01)
	if err := WriteStateFile(filepath.Join(t.TempDir(), "no", "such", "dir", "f"), out.Persist); err == nil {
		t.Error("write into a missing directory succeeded")
	}
}

// Names in a state file written before nexus names were brought to one case
// are read in NexusID's form: the initiator that logs in again, whatever case
// its name has, still holds its registration and reservation.
func TestLoadStateCanonicalNames(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lun0.img.pr")
	old := `{"format":"atgt-persistent-reservations","version":1,"seq":5,"aptpl":true,"generation":4,` +
		`"registrations":[{"nexus":"iqn.2026-11.Dev.ATGT:Upper,i,0x23D000000001","key":10,"relativeTargetPort":1}],` +
		`"reservation":{"holder":"iqn.2026-11.Dev.ATGT:Upper,i,0x23D000000001","type":1}}` + "\n"
	if err := os.WriteFile(path, []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	tb, err := LoadState(path)
	if err != nil {
		t.Fatal(err)
	}
	n := Nexus{ID: NexusID("IQN.2026-11.dev.atgt:upper", [6]byte{0x23, 0xd0, 0, 0, 0, 1})}
	if tb.Check(n, write10()) {
		t.Fatal("the holder, logged in again with its name in another case, conflicts")
	}
	if !tb.Check(nexusC, write10()) {
		t.Fatal("another initiator does not conflict")
	}
}
