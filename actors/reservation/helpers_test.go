package reservation

import (
	"encoding/binary"
	"testing"

	"github.com/atgt/atgt/messages/scsi"
)

var (
	nexusA = Nexus{ID: "iqn.2007-10.com.github:sahlberg:libiscsi:iscsi-test,i,0x23d000000001"}
	nexusB = Nexus{ID: "iqn.2007-10.com.github:sahlberg:libiscsi:iscsi-test-2,i,0x23d000000002"}
	nexusC = Nexus{ID: "iqn.2026-11.dev.atgt:c,i,0x800000000003"}
)

func proutCmd(sa, scope, typ uint8, plen uint32) []byte {
	c := make([]byte, 10)
	c[0] = scsi.OpPersistentReserveOut
	c[1] = sa
	c[2] = scope<<4 | typ
	binary.BigEndian.PutUint32(c[5:9], plen)
	return c
}

// basicParams is the 24-byte PROUT parameter list; flags is byte 20
// (SPEC_I_PT 0x08, ALL_TG_PT 0x04, APTPL 0x01).
func basicParams(key, saKey uint64, flags byte) []byte {
	p := make([]byte, 24)
	binary.BigEndian.PutUint64(p[0:8], key)
	binary.BigEndian.PutUint64(p[8:16], saKey)
	p[20] = flags
	return p
}

func prinCDB(sa uint8, alloc uint16) []byte {
	c := make([]byte, 10)
	c[0] = scsi.OpPersistentReserveIn
	c[1] = sa
	binary.BigEndian.PutUint16(c[7:9], alloc)
	return c
}

func exec(t *testing.T, tb *Table, n Nexus, cdb, param []byte) Outcome {
	t.Helper()
	out, handled := tb.Execute(n, cdb, param)
	if !handled {
		t.Fatalf("Execute(%x) not handled", cdb)
	}
	return out
}

// prout runs a basic PROUT service action and returns its outcome.
func prout(t *testing.T, tb *Table, n Nexus, sa, typ uint8, key, saKey uint64, flags byte) Outcome {
	t.Helper()
	return exec(t, tb, n, proutCmd(sa, 0, typ, 24), basicParams(key, saKey, flags))
}

// mustGood fails unless out is GOOD.
func mustGood(t *testing.T, out Outcome, what string) {
	t.Helper()
	if out.Status != scsi.StatusGood {
		t.Fatalf("%s: status 0x%x sense %x, want GOOD", what, out.Status, out.Sense)
	}
}

// senseOf returns key, ASC, ASCQ of a CHECK CONDITION outcome.
func senseOf(t *testing.T, out Outcome) (uint8, uint8, uint8) {
	t.Helper()
	if out.Status != scsi.StatusCheckCondition || len(out.Sense) < 14 {
		t.Fatalf("status 0x%x sense %x, want CHECK CONDITION", out.Status, out.Sense)
	}
	return out.Sense[2] & 0x0F, out.Sense[12], out.Sense[13]
}

func readKeys(t *testing.T, tb *Table, n Nexus) (gen uint32, keys []uint64) {
	t.Helper()
	out := exec(t, tb, n, prinCDB(SAReadKeys, 4096), nil)
	mustGood(t, out, "READ KEYS")
	gen = binary.BigEndian.Uint32(out.Data[0:4])
	l := binary.BigEndian.Uint32(out.Data[4:8])
	for i := 8; i < 8+int(l); i += 8 {
		keys = append(keys, binary.BigEndian.Uint64(out.Data[i:i+8]))
	}
	return gen, keys
}

// readReservation returns whether a reservation exists, its key and type.
func readReservation(t *testing.T, tb *Table, n Nexus) (bool, uint64, uint8) {
	t.Helper()
	out := exec(t, tb, n, prinCDB(SAReadReservation, 4096), nil)
	mustGood(t, out, "READ RESERVATION")
	if binary.BigEndian.Uint32(out.Data[4:8]) == 0 {
		return false, 0, 0
	}
	return true, binary.BigEndian.Uint64(out.Data[8:16]), out.Data[21] & 0x0F
}

func read10() []byte  { return []byte{scsi.OpRead10, 0, 0, 0, 0, 1, 0, 0, 1, 0} }
func write10() []byte { return []byte{scsi.OpWrite10, 0, 0, 0, 0, 1, 0, 0, 1, 0} }

var allTypes = []uint8{
	TypeWriteExclusive, TypeExclusiveAccess,
	TypeWriteExclusiveRegistrantsOnly, TypeExclusiveAccessRegistrantsOnly,
	TypeWriteExclusiveAllRegistrants, TypeExclusiveAccessAllRegistrants,
}

// uaSet maps nexus to the ASCQ of its 2A/xx unit attention.
func uaSet(uas []UA) map[string]uint8 {
	m := map[string]uint8{}
	for _, u := range uas {
		m[u.Nexus] = u.Sense.ASCQ
	}
	return m
}
