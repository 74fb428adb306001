package reservation

import (
	"testing"

	"github.com/atgt/atgt/messages/scsi"
)

func TestRegister(t *testing.T) {
	type step struct {
		sa           uint8
		key, saKey   uint64
		flags        byte
		status       uint8
		wantKeys     []uint64
		wantGenDelta uint32
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"register then unregister", []step{
			{SARegister, 0, 0x11, 0, scsi.StatusGood, []uint64{0x11}, 1},
			{SARegister, 0x11, 0, 0, scsi.StatusGood, nil, 1},
		}},
		{"unregistered with nonzero key conflicts", []step{
			{SARegister, 0x99, 0x11, 0, scsi.StatusReservationConflict, nil, 0},
		}},
		{"unregistered unregister is a no-op", []step{
			{SARegister, 0, 0, 0, scsi.StatusGood, nil, 0},
			{SARegisterAndIgnore, 0, 0, 0, scsi.StatusGood, nil, 0},
		}},
		{"change key", []step{
			{SARegister, 0, 0x11, 0, scsi.StatusGood, []uint64{0x11}, 1},
			{SARegister, 0x11, 0x22, 0, scsi.StatusGood, []uint64{0x22}, 1},
		}},
		{"wrong key conflicts", []step{
			{SARegister, 0, 0x11, 0, scsi.StatusGood, []uint64{0x11}, 1},
			{SARegister, 0x12, 0x22, 0, scsi.StatusReservationConflict, []uint64{0x11}, 0},
			{SARegister, 0, 0x22, 0, scsi.StatusReservationConflict, []uint64{0x11}, 0},
		}},
		{"register and ignore ignores the key", []step{
			{SARegisterAndIgnore, 0x77, 0x11, 0, scsi.StatusGood, []uint64{0x11}, 1},
			{SARegisterAndIgnore, 0x55, 0x22, 0, scsi.StatusGood, []uint64{0x22}, 1},
			{SARegisterAndIgnore, 0x55, 0, 0, scsi.StatusGood, nil, 1},
		}},
		{"SPEC_I_PT refused", []step{
			{SARegister, 0, 0x11, 0x08, scsi.StatusCheckCondition, nil, 0},
			{SARegisterAndIgnore, 0, 0x11, 0x08, scsi.StatusCheckCondition, nil, 0},
		}},
		{"ALL_TG_PT accepted", []step{
			{SARegister, 0, 0x11, 0x04, scsi.StatusGood, []uint64{0x11}, 1},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tb := New()
			for i, s := range tc.steps {
				g0, _ := readKeys(t, tb, nexusA)
				out := prout(t, tb, nexusA, s.sa, 0, s.key, s.saKey, s.flags)
				if out.Status != s.status {
					t.Fatalf("step %d: status 0x%x (sense %x), want 0x%x", i, out.Status, out.Sense, s.status)
				}
				g1, keys := readKeys(t, tb, nexusA)
				if g1-g0 != s.wantGenDelta {
					t.Errorf("step %d: generation moved by %d, want %d", i, g1-g0, s.wantGenDelta)
				}
				if len(keys) != len(s.wantKeys) || (len(keys) > 0 && keys[0] != s.wantKeys[0]) {
					t.Errorf("step %d: keys %x, want %x", i, keys, s.wantKeys)
				}
			}
		})
	}
}

func TestProutParameterErrors(t *testing.T) {
	tests := []struct {
		name      string
		cdb       []byte
		param     []byte
		key, asc  uint8
		ascq      uint8
		fieldByte int
	}{
		{"list length 23", proutCmd(SARegister, 0, 0, 23), basicParams(0, 1, 0)[:23], scsi.SenseIllegalRequest, 0x1A, 0, -1},
		{"list length 25", proutCmd(SARegister, 0, 0, 25), append(basicParams(0, 1, 0), 0), scsi.SenseIllegalRequest, 0x1A, 0, -1},
		{"list length 0", proutCmd(SAReserve, 0, 1, 0), nil, scsi.SenseIllegalRequest, 0x1A, 0, -1},
		{"data shorter than length", proutCmd(SARegister, 0, 0, 24), basicParams(0, 1, 0)[:10], scsi.SenseIllegalRequest, 0x1A, 0, -1},
		{"unknown service action", proutCmd(0x08, 0, 0, 24), basicParams(0, 1, 0), scsi.SenseIllegalRequest, 0x24, 0, 1},
		{"SPEC_I_PT", proutCmd(SARegister, 0, 0, 24), basicParams(0, 1, 0x08), scsi.SenseIllegalRequest, 0x26, 0, 20},
		{"short CDB", []byte{scsi.OpPersistentReserveOut, 0, 0}, nil, scsi.SenseIllegalRequest, 0x24, 0, 0},
		{"NACA", append(proutCmd(SARegister, 0, 0, 24)[:9], 0x04), basicParams(0, 1, 0), scsi.SenseIllegalRequest, 0x24, 0, 9},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tb := New()
			out := exec(t, tb, nexusA, tc.cdb, tc.param)
			k, asc, ascq := senseOf(t, out)
			if k != tc.key || asc != tc.asc || ascq != tc.ascq {
				t.Fatalf("sense %x/%02x/%02x, want %x/%02x/%02x", k, asc, ascq, tc.key, tc.asc, tc.ascq)
			}
			if tc.fieldByte >= 0 {
				fp := int(out.Sense[16])<<8 | int(out.Sense[17])
				if out.Sense[15]&0x80 == 0 || fp != tc.fieldByte {
					t.Errorf("field pointer %d (sksv %v), want %d", fp, out.Sense[15]&0x80 != 0, tc.fieldByte)
				}
			}
			if _, keys := readKeys(t, tb, nexusA); len(keys) != 0 {
				t.Errorf("refused command registered keys %x", keys)
			}
		})
	}
}

func TestRegistrationLimit(t *testing.T) {
	tb := New()
	for i := 0; i < MaxRegistrations; i++ {
		n := Nexus{ID: "iqn.x,i,0x" + string(rune('a'+i%26)) + string(rune('a'+i/26)) + "0000000000"}
		mustGood(t, prout(t, tb, n, SARegisterAndIgnore, 0, 0, uint64(i+1), 0), "register")
	}
	k, asc, ascq := senseOf(t, prout(t, tb, nexusA, SARegisterAndIgnore, 0, 0, 1, 0))
	if k != scsi.SenseIllegalRequest || asc != 0x55 || ascq != 0x04 {
		t.Fatalf("sense %x/%02x/%02x, want INSUFFICIENT REGISTRATION RESOURCES", k, asc, ascq)
	}
}
