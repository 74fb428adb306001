package scsidev

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/atgt/atgt/messages/scsi"
)

// aluaConfig is a LU served by node 2 of a target exported by nodes 1, 2 and 7.
func aluaConfig() Config {
	cfg := testConfig()
	cfg.TargetName = "iqn.x:t"
	cfg.PortGroups = []uint16{1, 2, 7}
	cfg.TargetPortGroup, cfg.RelativePortID, cfg.PortalGroupTag = 2, 2, 2
	cfg.ImplicitTransitionSeconds = 30
	return cfg
}

func rtpgCDB(format byte, alloc uint32) []byte {
	c := make([]byte, 12)
	c[0], c[1] = scsi.OpMaintenanceIn, format<<5|scsi.SAReportTargetPortGroups
	binary.BigEndian.PutUint32(c[6:10], alloc)
	return c
}

func TestReportTargetPortGroupsGolden(t *testing.T) {
	d := ready(t, aluaConfig())
	group := func(state, status byte, id byte) []byte {
		// SUPPORTED: U_SUP, AN_SUP, AO_SUP.
		return []byte{state, 0x0B, 0x00, id, 0x00, status, 0x00, 0x01, 0x00, 0x00, 0x00, id}
	}
	body := append(append(group(0x00, 0, 1), group(0x00, 0, 2)...), group(0x00, 0, 7)...)
	want := append([]byte{0x00, 0x00, 0x00, 36}, body...)
	r := exec(d, rtpgCDB(0, 1024), nil)
	if r.Status != scsi.StatusGood || !bytes.Equal(r.Data, want) {
		t.Fatalf("length format: status %d\n% x\nwant\n% x", r.Status, r.Data, want)
	}
	want = append([]byte{0x00, 0x00, 0x00, 40, 0x10, 30, 0x00, 0x00}, body...)
	r = exec(d, rtpgCDB(1, 1024), nil)
	if r.Status != scsi.StatusGood || !bytes.Equal(r.Data, want) {
		t.Fatalf("extended format: status %d\n% x\nwant\n% x", r.Status, r.Data, want)
	}
	// The allocation length cuts the data, not the length field.
	r = exec(d, rtpgCDB(1, 6), nil)
	if !bytes.Equal(r.Data, want[:6]) {
		t.Fatalf("alloc 6: % x", r.Data)
	}
	if k, asc, _ := senseOf(exec(d, rtpgCDB(2, 1024), nil)); k != scsi.SenseIllegalRequest || asc != 0x24 {
		t.Fatalf("format 2: sense %x/%x", k, asc)
	}
}

func TestPortGroupStateChange(t *testing.T) {
	d := ready(t, aluaConfig())
	if !d.SetPortGroupState(2, ActiveNonOptimized) || d.SetPortGroupState(2, ActiveNonOptimized) || d.SetPortGroupState(3, ActiveNonOptimized) {
		t.Fatal("SetPortGroupState: want a change only for a known group's new state")
	}
	// Every nexus learns of the change once, with ASYMMETRIC ACCESS STATE CHANGED.
	if k, asc, ascq := senseOf(exec(d, []byte{scsi.OpTestUnitReady, 0, 0, 0, 0, 0}, nil)); k != scsi.SenseUnitAttention || asc != 0x2A || ascq != 0x06 {
		t.Fatalf("after the change: sense %x/%x/%x", k, asc, ascq)
	}
	if r := exec(d, []byte{scsi.OpTestUnitReady, 0, 0, 0, 0, 0}, nil); r.Status != scsi.StatusGood {
		t.Fatalf("second TUR: %+v", r)
	}
	r := exec(d, rtpgCDB(0, 1024), nil)
	g2 := r.Data[4+12:]
	if g2[0] != byte(ActiveNonOptimized) || binary.BigEndian.Uint16(g2[2:4]) != 2 || g2[5] != 0x02 {
		t.Fatalf("group 2 descriptor % x", g2[:12])
	}
	if r.Data[4] != byte(ActiveOptimized) || r.Data[4+5] != 0 {
		t.Fatalf("group 1 descriptor % x", r.Data[4:16])
	}
}

func TestInquiryTPGS(t *testing.T) {
	r := exec(ready(t, aluaConfig()), []byte{scsi.OpInquiry, 0, 0, 0, 255, 0}, nil)
	if r.Data[5]&0x30 != 0x10 {
		t.Fatalf("TPGS byte % x: want implicit ALUA only (0x10)", r.Data[5])
	}
	r = exec(ready(t, testConfig()), []byte{scsi.OpInquiry, 0, 0, 0, 255, 0}, nil)
	if r.Data[5]&0x30 != 0 {
		t.Fatalf("without port groups TPGS byte % x: want 0", r.Data[5])
	}
}

func TestDeviceIdentificationPortGroup(t *testing.T) {
	r := exec(ready(t, aluaConfig()), []byte{scsi.OpInquiry, 1, 0x83, 0, 255, 0}, nil)
	want := []byte{
		0x51, 0x94, 0x00, 0x04, 0x00, 0x00, 0x00, 0x02, // relative target port 2
		0x51, 0x95, 0x00, 0x04, 0x00, 0x00, 0x00, 0x02, // target port group 2
		0x53, 0x98, 0x00, 0x14, 'i', 'q', 'n', '.', 'x', ':', 't', ',', 't', ',', '0', 'x', '0', '0', '0', '2', 0, 0, 0, 0,
	}
	if !bytes.Contains(r.Data, want) {
		t.Fatalf("VPD 0x83 lacks node 2's port designators:\n% x", r.Data)
	}
}

func TestReportTargetPortGroupsSupported(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want byte
	}{{aluaConfig(), 0x03}, {testConfig(), 0x01}} {
		d := ready(t, c.cfg)
		r := exec(d, rsocCDB(false, rsocServiceAction, scsi.OpMaintenanceIn, scsi.SAReportTargetPortGroups, 64), nil)
		if r.Status != scsi.StatusGood || r.Data[1]&0x07 != c.want {
			t.Fatalf("ports %v: RSOC support %x, want %x", c.cfg.PortGroups, r.Data[1], c.want)
		}
		all := exec(d, rsocCDB(false, rsocAll, 0, 0, 8192), nil).Data
		listed := false
		for i := 4; i+8 <= len(all); i += 8 {
			if all[i] == scsi.OpMaintenanceIn && binary.BigEndian.Uint16(all[i+2:]) == scsi.SAReportTargetPortGroups {
				listed = true
			}
		}
		if listed != (c.want == 0x03) {
			t.Fatalf("ports %v: all-commands listing has RTPG %v", c.cfg.PortGroups, listed)
		}
		r = exec(d, rtpgCDB(0, 1024), nil)
		if (r.Status == scsi.StatusGood) != (c.want == 0x03) {
			t.Fatalf("ports %v: RTPG status %d", c.cfg.PortGroups, r.Status)
		}
	}
}

// TestUnavailableGroup: while its owner shows this node's group unavailable, the
// device reports it so (state 3h) and runs only the commands SPC-4 5.11.2.4.5
// lists (INQUIRY, REPORT LUNS, REQUEST SENSE, the MAINTENANCE IN reports); the
// others get NOT READY, TARGET PORT IN UNAVAILABLE STATE (04/0C), after the
// unit attention of the change. Back to active, they run again.
func TestUnavailableGroup(t *testing.T) {
	d := ready(t, aluaConfig())
	if !d.SetPortGroupState(2, Unavailable) {
		t.Fatal("no change to unavailable")
	}
	if k, asc, ascq := senseOf(exec(d, []byte{scsi.OpTestUnitReady, 0, 0, 0, 0, 0}, nil)); k != 6 || asc != 0x2A || ascq != 0x06 {
		t.Fatalf("first command: %x/%02x/%02x, want the unit attention 2A/06", k, asc, ascq)
	}
	for _, c := range []struct {
		name string
		cdb  []byte
	}{
		{"TEST UNIT READY", []byte{scsi.OpTestUnitReady, 0, 0, 0, 0, 0}},
		{"READ(10)", cdb10(scsi.OpRead10, 0, 0, 1)},
		{"WRITE(10)", cdb10(scsi.OpWrite10, 0, 0, 1)},
		{"PERSISTENT RESERVE IN", []byte{scsi.OpPersistentReserveIn, 0, 0, 0, 0, 0, 0, 1, 0, 0}},
		{"MODE SENSE(6)", []byte{scsi.OpModeSense6, 0, 0x3F, 0, 255, 0}},
		{"READ CAPACITY(16)", cdb16(scsi.OpServiceActionIn16, scsi.SAReadCapacity16, 0, 32)},
	} {
		r := exec(d, c.cdb, make([]byte, 512))
		if k, asc, ascq := senseOf(r); k != 2 || asc != 0x04 || ascq != 0x0C || r.IO.Kind != 0 {
			t.Errorf("%s while unavailable: status %d sense %x/%02x/%02x io %v, want NOT READY 04/0C", c.name, r.Status, k, asc, ascq, r.IO.Kind)
		}
	}
	rsoc := make([]byte, 12)
	rsoc[0], rsoc[1] = scsi.OpMaintenanceIn, scsi.SAReportSupportedOpcodes
	binary.BigEndian.PutUint32(rsoc[6:10], 4096)
	for _, c := range []struct {
		name string
		cdb  []byte
	}{
		{"INQUIRY", []byte{scsi.OpInquiry, 0, 0, 0, 96, 0}},
		{"REPORT LUNS", []byte{scsi.OpReportLUNs, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0}},
		{"REQUEST SENSE", []byte{scsi.OpRequestSense, 0, 0, 0, 252, 0}},
		{"REPORT SUPPORTED OPERATION CODES", rsoc},
	} {
		if r := exec(d, c.cdb, nil); r.Status != scsi.StatusGood {
			t.Errorf("%s while unavailable: status %d sense % x, want GOOD", c.name, r.Status, r.Sense)
		}
	}
	r := exec(d, rtpgCDB(0, 1024), nil)
	if r.Status != scsi.StatusGood || len(r.Data) < 4+3*12 {
		t.Fatalf("RTPG while unavailable: %+v", r)
	}
	for i, want := range []byte{0x0, 0x3, 0x0} { // groups 1, 2 (this node's), 7
		if got := r.Data[4+12*i] & 0x0F; got != want {
			t.Errorf("group %d state %#x, want %#x", i, got, want)
		}
	}
	d.SetPortGroupState(2, ActiveOptimized)
	exec(d, []byte{scsi.OpTestUnitReady, 0, 0, 0, 0, 0}, nil) // the unit attention of the change
	if r := exec(d, cdb10(scsi.OpRead10, 0, 0, 1), nil); r.Status != scsi.StatusGood || r.IO.Kind == 0 {
		t.Fatalf("READ back to active/optimized: %+v", r)
	}
}
