package reservation

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/atgt/atgt/messages/scsi"
)

// usageCase is one reservation command with a CDB (and parameter list) the
// table accepts, and the state to make on a fresh table before it.
type usageCase struct {
	name  string
	cdb   []byte
	param []byte
	setup func(t *testing.T, tb *Table)
}

// registeredA makes nexus A a registrant with key 1 and, with typ non-zero,
// the holder of a reservation of that type.
func registeredA(typ uint8) func(t *testing.T, tb *Table) {
	return func(t *testing.T, tb *Table) {
		mustGood(t, prout(t, tb, nexusA, 0, 0, 0, 1, 0), "setup REGISTER")
		if typ != 0 {
			mustGood(t, prout(t, tb, nexusA, 1, typ, 1, 0, 0), "setup RESERVE")
		}
	}
}

// usageCases has a CDB for every reservation opcode and service action.
func usageCases() []usageCase {
	cases := []usageCase{
		{name: "RESERVE(6)", cdb: []byte{scsi.OpReserve6, 0, 0, 0, 0, 0}},
		{name: "RELEASE(6)", cdb: []byte{scsi.OpRelease6, 0, 0, 0, 0, 0}},
		{name: "RESERVE(10)", cdb: []byte{scsi.OpReserve10, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
		{name: "RELEASE(10)", cdb: []byte{scsi.OpRelease10, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
	}
	for sa := uint8(0); sa < 4; sa++ {
		cases = append(cases, usageCase{name: fmt.Sprintf("PERSISTENT RESERVE IN %d", sa), cdb: prinCDB(sa, 256), setup: registeredA(1)})
	}
	basic := func(name string, sa, typ uint8, key, saKey uint64, setup func(*testing.T, *Table)) usageCase {
		return usageCase{name: name, cdb: proutCmd(sa, 0, typ, 24), param: basicParams(key, saKey, 0), setup: setup}
	}
	return append(cases,
		basic("REGISTER", 0, 0, 0, 1, nil),
		basic("RESERVE", 1, 1, 1, 0, registeredA(0)),
		basic("RELEASE", 2, 1, 1, 0, registeredA(1)),
		basic("CLEAR", 3, 0, 1, 0, registeredA(0)),
		basic("PREEMPT", 4, 1, 1, 1, registeredA(1)),
		basic("PREEMPT AND ABORT", 5, 1, 1, 1, registeredA(1)),
		basic("REGISTER AND IGNORE EXISTING KEY", 6, 0, 0, 2, nil),
		// Refused (no transport ID), but its CDB fields are read first.
		basic("REGISTER AND MOVE", 7, 1, 1, 0, registeredA(1)),
	)
}

// TestCDBUsageMatchesTable is actors/scsidev's TestCDBUsageMatchesParser for
// the commands this table executes: a CDB bit the REPORT SUPPORTED OPERATION
// CODES usage mask leaves clear is ignored or refused with INVALID FIELD IN
// CDB, never read; and every reservation opcode and service action is checked.
func TestCDBUsageMatchesTable(t *testing.T) {
	have := map[[2]uint16]bool{}
	for _, c := range usageCases() {
		op, sa := c.cdb[0], uint16(0)
		if _, ok := scsi.ServiceActions[op]; ok {
			sa = uint16(c.cdb[1] & 0x1F)
		}
		have[[2]uint16{uint16(op), sa}] = true
		t.Run(c.name, func(t *testing.T) {
			mask, ok := scsi.CDBUsage(op, sa)
			if !ok || len(mask) != len(c.cdb) {
				t.Fatalf("usage data %v of length %d for a %d-byte CDB", ok, len(mask), len(c.cdb))
			}
			// run answers cdb on a fresh table and then shows the state it
			// left (full status, and whether another nexus can RESERVE), so
			// that a bit read only into the state counts too.
			run := func(cdb []byte) Outcome {
				tb := New()
				if c.setup != nil {
					c.setup(t, tb)
				}
				out := exec(t, tb, nexusA, cdb, append([]byte(nil), c.param...))
				full := exec(t, tb, nexusA, prinCDB(3, 1024), nil)
				other := exec(t, tb, nexusB, []byte{scsi.OpReserve6, 0, 0, 0, 0, 0}, nil)
				out.Data = append(append(append([]byte(nil), out.Data...), full.Data...), other.Status)
				return out
			}
			base := run(c.cdb)
			if base.Status != scsi.StatusGood && c.name != "REGISTER AND MOVE" {
				t.Fatalf("the case's own CDB is refused: status %#x sense % x", base.Status, base.Sense)
			}
			for _, f := range scsi.UnusedCDBBits(op, mask) {
				cdb := append([]byte(nil), c.cdb...)
				cdb[f.Byte] ^= f.Mask
				r := run(cdb)
				if reflect.DeepEqual(r, base) {
					continue
				}
				if r.Status == scsi.StatusCheckCondition && len(r.Sense) > 12 && r.Sense[2]&0x0F == 5 && r.Sense[12] == 0x24 {
					continue
				}
				t.Errorf("byte %d bits %#02x are not in the usage mask (%#02x), but change the answer: status %#x sense % x, without them status %#x sense % x",
					f.Byte, f.Mask, mask[f.Byte], r.Status, r.Sense, base.Status, base.Sense)
			}
		})
	}
	for _, op := range []byte{scsi.OpReserve6, scsi.OpRelease6, scsi.OpReserve10, scsi.OpRelease10, scsi.OpPersistentReserveIn, scsi.OpPersistentReserveOut} {
		sas, ok := scsi.ServiceActions[op]
		if !ok {
			sas = []uint16{0}
		}
		for _, sa := range sas {
			if !have[[2]uint16{uint16(op), sa}] {
				t.Errorf("no usage case for opcode %#x service action %#x", op, sa)
			}
		}
	}
}
