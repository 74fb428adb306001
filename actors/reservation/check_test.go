package reservation

import (
	"testing"

	"github.com/atgt/atgt/messages/scsi"
)

// TestCheckClasses checks the command table against a Write Exclusive and
// an Exclusive Access reservation held by A, seen from unregistered C.
func TestCheckClasses(t *testing.T) {
	tests := []struct {
		name   string
		cdb    []byte
		we, ea bool // conflict under WE, under EA
	}{
		{"TEST UNIT READY", tur, false, false},
		{"INQUIRY", inquiry, false, false},
		{"REPORT LUNS", []byte{scsi.OpReportLUNs, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, false, false},
		{"REQUEST SENSE", []byte{scsi.OpRequestSense, 0, 0, 0, 18, 0}, false, false},
		{"READ CAPACITY(10)", []byte{scsi.OpReadCapacity10, 0, 0, 0, 0, 0, 0, 0, 0, 0}, false, false},
		{"READ CAPACITY(16)", []byte{scsi.OpServiceActionIn16, scsi.SAReadCapacity16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0}, false, false},
		{"GET LBA STATUS", []byte{scsi.OpServiceActionIn16, scsi.SAGetLBAStatus, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0}, false, true},
		{"LOG SENSE", []byte{scsi.OpLogSense, 0, 0, 0, 0, 0, 0, 0, 0, 0}, false, false},
		{"PRIN", prinCDB(0, 8), false, false},
		{"READ(6)", []byte{scsi.OpRead6, 0, 0, 0, 1, 0}, false, true},
		{"READ(10)", read10(), false, true},
		{"READ(16)", []byte{scsi.OpRead16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0}, false, true},
		{"VERIFY(10)", []byte{scsi.OpVerify10, 0, 0, 0, 0, 0, 0, 0, 1, 0}, false, true},
		{"PRE-FETCH(10)", []byte{scsi.OpPrefetch10, 0, 0, 0, 0, 0, 0, 0, 1, 0}, false, true},
		{"WRITE(10)", write10(), true, true},
		{"WRITE SAME(16)", []byte{scsi.OpWriteSame16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0}, true, true},
		{"UNMAP", []byte{scsi.OpUnmap, 0, 0, 0, 0, 0, 0, 0, 24, 0}, true, true},
		{"SYNCHRONIZE CACHE", []byte{scsi.OpSynchronizeCache10, 0, 0, 0, 0, 0, 0, 0, 0, 0}, true, true},
		{"MODE SENSE", modeSense6, true, true},
		{"MODE SELECT", []byte{scsi.OpModeSelect6, 0x10, 0, 0, 12, 0}, true, true},
		{"READ DEFECT DATA", []byte{scsi.OpReadDefectData10, 0, 0, 0, 0, 0, 0, 0, 0, 0}, true, true},
		{"REPORT SUPPORTED OPCODES", []byte{scsi.OpMaintenanceIn, scsi.SAReportSupportedOpcodes, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0}, true, true},
		{"REPORT TARGET PORT GROUPS", []byte{scsi.OpMaintenanceIn, scsi.SAReportTargetPortGroups, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0}, false, false},
		{"START UNIT", []byte{scsi.OpStartStopUnit, 0, 0, 0, 0x01, 0}, false, false},
		{"STOP UNIT", []byte{scsi.OpStartStopUnit, 0, 0, 0, 0x00, 0}, true, true},
		{"START with power condition", []byte{scsi.OpStartStopUnit, 0, 0, 0, 0x11, 0}, true, true},
		{"ALLOW MEDIUM REMOVAL", []byte{scsi.OpPreventAllowRemoval, 0, 0, 0, 0, 0}, false, false},
		{"PREVENT MEDIUM REMOVAL", []byte{scsi.OpPreventAllowRemoval, 0, 0, 0, 1, 0}, true, true},
		{"unknown opcode", []byte{0xC0, 0, 0, 0, 0, 0}, true, true},
		{"truncated SERVICE ACTION IN", []byte{scsi.OpServiceActionIn16}, true, true},
	}
	for _, typ := range []uint8{TypeWriteExclusive, TypeExclusiveAccess} {
		tb := setup(t, typ)
		for _, tc := range tests {
			want := tc.we
			if typ == TypeExclusiveAccess {
				want = tc.ea
			}
			if got := tb.Check(nexusC, tc.cdb); got != want {
				t.Errorf("type %d, %s: conflict=%v, want %v", typ, tc.name, got, want)
			}
			if tb.Check(nexusA, tc.cdb) {
				t.Errorf("type %d, %s: conflict for the holder", typ, tc.name)
			}
		}
	}
	if New().Check(nexusA, write10()) || New().Check(nexusA, nil) {
		t.Error("conflict without any reservation")
	}
}
