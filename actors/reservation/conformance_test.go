package reservation

import (
	"encoding/binary"
	"testing"

	"github.com/atgt/atgt/messages/scsi"
)

// SPC-4 6.17.3: SPEC_I_PT=1 with any service action but REGISTER ends the
// command CHECK CONDITION, ILLEGAL REQUEST, INVALID FIELD IN PARAMETER LIST,
// the field pointer on byte 20 bit 3, and changes nothing. (REGISTER refuses
// it as well: SIP_C is 0.)
func TestSpecIPTOnlyWithRegister(t *testing.T) {
	for _, sa := range []uint8{SARegister, SARegisterAndIgnore, SAReserve, SARelease, SAClear, SAPreempt, SAPreemptAndAbort} {
		tb := New()
		mustGood(t, prout(t, tb, nexusA, SARegister, 0, 0, 0xA, 0), "REGISTER A")
		mustGood(t, prout(t, tb, nexusB, SARegister, 0, 0, 0xB, 0), "REGISTER B")
		mustGood(t, prout(t, tb, nexusB, SAReserve, TypeWriteExclusive, 0xB, 0, 0), "RESERVE B")
		gen, _ := readKeys(t, tb, nexusA)
		saKey := uint64(0xB)
		if sa == SARegister || sa == SARegisterAndIgnore {
			saKey = 0xA1
		}
		out := prout(t, tb, nexusA, sa, TypeWriteExclusive, 0xA, saKey, 0x08)
		key, asc, ascq := senseOf(t, out)
		if key != scsi.SenseIllegalRequest || asc != 0x26 || ascq != 0x00 {
			t.Errorf("SA %d with SPEC_I_PT=1: sense %x/%02x/%02x, want ILLEGAL REQUEST, INVALID FIELD IN PARAMETER LIST",
				sa, key, asc, ascq)
			continue
		}
		// Sense-key specific: SKSV=1, C/D=0 (parameter list), BPV=1, bit 3; field byte 20.
		if out.Sense[15] != 0x80|0x08|3 || binary.BigEndian.Uint16(out.Sense[16:18]) != 20 {
			t.Errorf("SA %d: sense-key specific %x, want SKSV, BPV bit 3, field 20", sa, out.Sense[15:18])
		}
		if g, keys := readKeys(t, tb, nexusA); g != gen || len(keys) != 2 {
			t.Errorf("SA %d with SPEC_I_PT=1 changed the state: generation %d keys %x", sa, g, keys)
		}
		if ok, k, _ := readReservation(t, tb, nexusA); !ok || k != 0xB {
			t.Errorf("SA %d with SPEC_I_PT=1 changed the reservation", sa)
		}
	}
}

// iSCSI names are case-insensitive (RFC 3722): a REGISTER AND MOVE whose
// TransportID spells a logged-in initiator's name in another case moves the
// reservation to that initiator's nexus, which NexusID names in lower case.
func TestRegisterAndMoveNameCase(t *testing.T) {
	tb := setup(t, TypeWriteExclusive)
	dest := Nexus{ID: NexusID("iqn.2026-11.dev.atgt:Mover", [6]byte{0x80, 0, 0, 0, 0, 4})}
	p := moveParams(0xA, 0xDD, 0, 1, "IQN.2026-11.DEV.ATGT:MOVER,i,0x800000000004")
	mustGood(t, exec(t, tb, nexusA, proutCmd(SARegisterAndMove, 0, 0, uint32(len(p))), p), "REGISTER AND MOVE")
	if tb.Check(dest, write10()) {
		t.Fatal("the initiator the reservation moved to conflicts: its TransportID named it in another case")
	}
	if ok, key, _ := readReservation(t, tb, dest); !ok || key != 0xDD {
		t.Fatalf("READ RESERVATION key %x, want the mover's 0xdd", key)
	}
}
