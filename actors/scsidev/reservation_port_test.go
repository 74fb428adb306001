package scsidev

import (
	"encoding/binary"
	"testing"

	"github.com/atgt/atgt/actors/reservation"
	"github.com/atgt/atgt/messages/scsi"
)

// With port groups, READ FULL STATUS reports the relative target port the
// registration came through as VPD page 0x83 names it (the node's group id),
// not 1.
func TestReadFullStatusRelativePortOfNode(t *testing.T) {
	d := ready(t, aluaConfig()) // relative target port 2
	rt := reservation.New()
	cdb, param := proutRegister(0xA, false)
	if r := d.Execute(&Request{CDB: cdb, DataOut: param, Nexus: "a"}, rt); r.Status != scsi.StatusGood {
		t.Fatalf("REGISTER: %+v", r)
	}
	prin := []byte{scsi.OpPersistentReserveIn, reservation.SAReadFullStatus, 0, 0, 0, 0, 0, 0x10, 0, 0}
	r := d.Execute(&Request{CDB: prin, Nexus: "a"}, rt)
	if r.Status != scsi.StatusGood || len(r.Data) < 8+24 {
		t.Fatalf("READ FULL STATUS: %+v", r)
	}
	if rtp := binary.BigEndian.Uint16(r.Data[8+18 : 8+20]); rtp != 2 {
		t.Fatalf("RELATIVE TARGET PORT IDENTIFIER %d, want 2 (VPD 0x83's)", rtp)
	}
}
