package scsidev

import (
	"encoding/binary"
	"reflect"
	"testing"

	"github.com/atgt/atgt/messages/scsi"
)

// usageCase is one command the device executes, with a CDB (and parameter
// data) it accepts, and what to do to a fresh device before it.
type usageCase struct {
	name string
	cdb  []byte
	out  []byte
}

// usageConfig is a thin LU with ALUA port groups and SANITIZE, so that every
// opcode and service action of the RSOC table is executed.
func usageConfig() Config {
	c := aluaConfig()
	c.Thin, c.UnmapReadsZero, c.AllowSanitize = true, true, true
	return c
}

// usageCases has a CDB for every opcode and service action the device model
// executes; the reservation commands, which the reservation table executes,
// are checked in actors/reservation (TestUsageCasesCoverTable).
func usageCases() []usageCase {
	blk := make([]byte, 512)
	c12 := func(op, b1 byte, lba, n uint32) []byte {
		c := make([]byte, 12)
		c[0], c[1] = op, b1
		binary.BigEndian.PutUint32(c[2:6], lba)
		binary.BigEndian.PutUint32(c[6:10], n)
		return c
	}
	unmapList := make([]byte, 24)
	binary.BigEndian.PutUint16(unmapList[0:2], 22)
	binary.BigEndian.PutUint16(unmapList[2:4], 16)
	binary.BigEndian.PutUint64(unmapList[8:16], 1)
	binary.BigEndian.PutUint32(unmapList[16:20], 1)
	xcopy := make([]byte, 16)
	xcopy[1] = 0x18 // LIST ID USAGE 11b, no descriptors
	overwrite := append([]byte{0x01, 0, 0, 4}, 0xA5, 0xA5, 0xA5, 0xA5)
	cases := []usageCase{
		{name: "TEST UNIT READY", cdb: []byte{scsi.OpTestUnitReady, 0, 0, 0, 0, 0}},
		{name: "REQUEST SENSE", cdb: []byte{scsi.OpRequestSense, 0, 0, 0, 252, 0}},
		{name: "READ(6)", cdb: []byte{scsi.OpRead6, 0, 0, 1, 1, 0}},
		{name: "WRITE(6)", cdb: []byte{scsi.OpWrite6, 0, 0, 1, 1, 0}, out: blk},
		{name: "INQUIRY", cdb: []byte{scsi.OpInquiry, 0, 0, 0, 96, 0}},
		{name: "MODE SELECT(6)", cdb: []byte{scsi.OpModeSelect6, 0x10, 0, 0, 4, 0}, out: make([]byte, 4)},
		{name: "MODE SENSE(6)", cdb: []byte{scsi.OpModeSense6, 0, 0x3F, 0, 255, 0}},
		{name: "START STOP UNIT", cdb: []byte{scsi.OpStartStopUnit, 0, 0, 0, 1, 0}},
		{name: "PREVENT ALLOW MEDIUM REMOVAL", cdb: []byte{scsi.OpPreventAllowRemoval, 0, 0, 0, 0, 0}},
		{name: "READ CAPACITY(10)", cdb: []byte{scsi.OpReadCapacity10, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
		{name: "READ(10)", cdb: cdb10(scsi.OpRead10, 0, 1, 1)},
		{name: "WRITE(10)", cdb: cdb10(scsi.OpWrite10, 0, 1, 1), out: blk},
		{name: "WRITE AND VERIFY(10)", cdb: cdb10(scsi.OpWriteAndVerify10, 0x02, 1, 1), out: blk},
		{name: "VERIFY(10)", cdb: cdb10(scsi.OpVerify10, 0x02, 1, 1), out: blk},
		{name: "PRE-FETCH(10)", cdb: cdb10(scsi.OpPrefetch10, 0, 1, 1)},
		{name: "SYNCHRONIZE CACHE(10)", cdb: cdb10(scsi.OpSynchronizeCache10, 0, 1, 1)},
		{name: "READ DEFECT DATA(10)", cdb: []byte{scsi.OpReadDefectData10, 0, 0x08 | 0x05, 0, 0, 0, 0, 0x01, 0x00, 0}},
		{name: "WRITE SAME(10)", cdb: cdb10(scsi.OpWriteSame10, 0, 1, 1), out: blk},
		{name: "UNMAP", cdb: []byte{scsi.OpUnmap, 0, 0, 0, 0, 0, 0, 0, 24, 0}, out: unmapList},
		{name: "MODE SELECT(10)", cdb: []byte{scsi.OpModeSelect10, 0x10, 0, 0, 0, 0, 0, 0, 8, 0}, out: make([]byte, 8)},
		{name: "MODE SENSE(10)", cdb: []byte{scsi.OpModeSense10, 0, 0x3F, 0, 0, 0, 0, 0x01, 0x00, 0}},
		{name: "READ(16)", cdb: cdb16(scsi.OpRead16, 0, 1, 1)},
		{name: "COMPARE AND WRITE", cdb: func() []byte {
			c := cdb16(scsi.OpCompareAndWrite, 0, 1, 0)
			c[13] = 1
			return c
		}(), out: make([]byte, 1024)},
		{name: "WRITE(16)", cdb: cdb16(scsi.OpWrite16, 0, 1, 1), out: blk},
		{name: "ORWRITE(16)", cdb: cdb16(scsi.OpORWrite, 0, 1, 1), out: blk},
		{name: "WRITE AND VERIFY(16)", cdb: cdb16(scsi.OpWriteAndVerify16, 0x02, 1, 1), out: blk},
		{name: "VERIFY(16)", cdb: cdb16(scsi.OpVerify16, 0x02, 1, 1), out: blk},
		{name: "PRE-FETCH(16)", cdb: cdb16(scsi.OpPrefetch16, 0, 1, 1)},
		{name: "SYNCHRONIZE CACHE(16)", cdb: cdb16(scsi.OpSynchronizeCache16, 0, 1, 1)},
		{name: "WRITE SAME(16)", cdb: cdb16(scsi.OpWriteSame16, 0, 1, 1), out: blk},
		{name: "REPORT LUNS", cdb: c12(scsi.OpReportLUNs, 0, 0, 256)},
		{name: "READ(12)", cdb: c12(scsi.OpRead12, 0, 1, 1)},
		{name: "WRITE(12)", cdb: c12(scsi.OpWrite12, 0, 1, 1), out: blk},
		{name: "WRITE AND VERIFY(12)", cdb: c12(scsi.OpWriteAndVerify12, 0x02, 1, 1), out: blk},
		{name: "VERIFY(12)", cdb: c12(scsi.OpVerify12, 0x02, 1, 1), out: blk},
		{name: "READ DEFECT DATA(12)", cdb: c12(scsi.OpReadDefectData12, 0x08|0x05, 0, 256)},
		{name: "READ CAPACITY(16)", cdb: cdb16(scsi.OpServiceActionIn16, scsi.SAReadCapacity16, 0, 32)},
		{name: "GET LBA STATUS", cdb: cdb16(scsi.OpServiceActionIn16, scsi.SAGetLBAStatus, 1, 255)},
		{name: "REPORT TARGET PORT GROUPS", cdb: rtpgCDB(1, 1024)},
		{name: "REPORT SUPPORTED OPERATION CODES", cdb: func() []byte {
			c := c12(scsi.OpMaintenanceIn, scsi.SAReportSupportedOpcodes, 0, 64)
			c[2], c[3] = 0x01, scsi.OpInquiry
			return c
		}()},
		{name: "REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS", cdb: c12(scsi.OpMaintenanceIn, scsi.SAReportSupportedTMFs, 0, 16)},
		{name: "EXTENDED COPY(LID1)", cdb: func() []byte {
			c := make([]byte, 16)
			c[0], c[1] = scsi.OpExtendedCopy, scsi.SAExtendedCopyLID1
			binary.BigEndian.PutUint32(c[10:14], uint32(len(xcopy)))
			return c
		}(), out: xcopy},
		{name: "RECEIVE COPY RESULTS COPY STATUS(LID1)", cdb: func() []byte {
			c := make([]byte, 16)
			c[0], c[1] = scsi.OpReceiveCopyResults, scsi.SACopyStatusLID1
			binary.BigEndian.PutUint32(c[10:14], 64)
			return c
		}()},
		{name: "RECEIVE COPY RESULTS OPERATING PARAMETERS", cdb: func() []byte {
			c := make([]byte, 16)
			c[0], c[1] = scsi.OpReceiveCopyResults, scsi.SAOperatingParameters
			binary.BigEndian.PutUint32(c[10:14], 1024)
			return c
		}()},
		{name: "SANITIZE OVERWRITE", cdb: []byte{scsi.OpSanitize, scsi.SASanitizeOverwrite, 0, 0, 0, 0, 0, 0, byte(len(overwrite)), 0}, out: overwrite},
		{name: "SANITIZE BLOCK ERASE", cdb: []byte{scsi.OpSanitize, scsi.SASanitizeBlockErase, 0, 0, 0, 0, 0, 0, 0, 0}},
		{name: "SANITIZE EXIT FAILURE MODE", cdb: []byte{scsi.OpSanitize, scsi.SASanitizeExitFailureMode, 0, 0, 0, 0, 0, 0, 0, 0}},
	}
	return cases
}

// run executes c on a fresh device with cdb in place of c.cdb, and reports
// with the answer's data the mode pages after it.
func (c usageCase) run(t *testing.T, cdb []byte) Result {
	d := ready(t, usageConfig())
	r := exec(d, cdb, append([]byte(nil), c.out...))
	// The state the command left, so that a bit read only into the device's
	// state counts too: the mode pages.
	after := exec(d, []byte{scsi.OpModeSense10, 0, 0x3F, 0, 0, 0, 0, 0x04, 0x00, 0}, nil)
	r.Data = append(append([]byte(nil), r.Data...), after.Data...)
	return r
}

// usageKey names c's entry in the usage table.
func (c usageCase) usageKey() (byte, uint16) {
	op := c.cdb[0]
	if _, ok := scsi.ServiceActions[op]; ok {
		return op, uint16(c.cdb[1] & 0x1F)
	}
	return op, 0
}

// reservationOps are executed by the reservation table (actors/reservation),
// whose own test checks their masks.
var reservationOps = map[byte]bool{
	scsi.OpReserve6: true, scsi.OpRelease6: true, scsi.OpReserve10: true, scsi.OpRelease10: true,
	scsi.OpPersistentReserveIn: true, scsi.OpPersistentReserveOut: true,
}

// TestUsageCasesCoverTable: every opcode and service action the device
// executes has a case, so TestCDBUsageMatchesParser checks every mask.
func TestUsageCasesCoverTable(t *testing.T) {
	have := map[[2]uint16]bool{}
	for _, c := range usageCases() {
		op, sa := c.usageKey()
		have[[2]uint16{uint16(op), sa}] = true
	}
	for op := 0; op < 256; op++ {
		if !scsi.Commands[op].Supported || reservationOps[byte(op)] {
			continue
		}
		sas, ok := scsi.ServiceActions[byte(op)]
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

// TestCDBUsageMatchesParser checks the CDB USAGE DATA of REPORT SUPPORTED
// OPERATION CODES (SPC-4 6.35.3) against what the device server reads: every
// CDB bit the mask leaves clear is either ignored (the answer is the same as
// without it) or refused with INVALID FIELD IN CDB (the fields the table
// leaves out on purpose, such as the protection fields). A bit the device
// reads but the mask leaves out (READ DEFECT DATA(12)'s list bits were marked
// in byte 2 while byte 1 is read) tells an initiator that the field does
// nothing.
func TestCDBUsageMatchesParser(t *testing.T) {
	for _, c := range usageCases() {
		t.Run(c.name, func(t *testing.T) {
			op, sa := c.usageKey()
			mask, ok := scsi.CDBUsage(op, sa)
			if !ok || len(mask) != len(c.cdb) {
				t.Fatalf("usage data %v of length %d for a %d-byte CDB", ok, len(mask), len(c.cdb))
			}
			base := c.run(t, c.cdb)
			if base.Status != scsi.StatusGood && c.name != "RECEIVE COPY RESULTS COPY STATUS(LID1)" {
				t.Fatalf("the case's own CDB is refused: %+v", base)
			}
			for _, f := range scsi.UnusedCDBBits(op, mask) {
				cdb := append([]byte(nil), c.cdb...)
				cdb[f.Byte] ^= f.Mask
				r := c.run(t, cdb)
				if reflect.DeepEqual(r, base) {
					continue
				}
				if key, asc, _ := senseOf(r); key == 5 && asc == 0x24 {
					continue
				}
				t.Errorf("byte %d bits %#02x are not in the usage mask (%#02x), but change the answer: status %d sense % x, without them status %d sense % x",
					f.Byte, f.Mask, mask[f.Byte], r.Status, r.Sense, base.Status, base.Sense)
			}
		})
	}
}
