package initiator

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/atgt/atgt/messages/iscsi"
	"github.com/atgt/atgt/messages/scsi"
)

func TestParseSense(t *testing.T) {
	fixed := scsi.AppendSense(nil, scsi.UnrecoveredReadError())
	tests := []struct {
		name           string
		sense          []byte
		key, asc, ascq uint8
	}{
		{"fixed", fixed, scsi.SenseMediumError, 0x11, 0},
		{"descriptor", []byte{0x72, 0x05, 0x24, 0x01, 0, 0, 0, 0}, 5, 0x24, 1},
		{"short fixed", []byte{0x70, 0, 0x06}, 6, 0, 0},
		{"empty", nil, 0, 0, 0},
		{"unknown format", []byte{0x01, 0x05, 0x24, 0x00}, 0, 0, 0},
	}
	for _, tc := range tests {
		e := &SCSIError{Status: scsi.StatusCheckCondition, Sense: tc.sense}
		if e.Key() != tc.key || e.ASC() != tc.asc || e.ASCQ() != tc.ascq {
			t.Errorf("%s: got %x/%x/%x, want %x/%x/%x", tc.name, e.Key(), e.ASC(), e.ASCQ(), tc.key, tc.asc, tc.ascq)
		}
	}
}

// TestSessionBasics logs in with each option set that changes the wire format and
// runs the everyday commands against the real target.
func TestSessionBasics(t *testing.T) {
	addr := startTarget(t)
	tests := []struct {
		name string
		o    Options
	}{
		{"defaults", Options{}},
		{"security stage", Options{Security: true}},
		{"digests", Options{HeaderDigest: true, DataDigest: true}},
		{"no immediate, initial R2T", Options{ImmediateData: Bool(false), InitialR2T: Bool(true), MaxBurstLength: 8192, FirstBurstLength: 4096}},
		{"small segments", Options{MaxRecvDataSegmentLength: 512, MaxBurstLength: 4096, FirstBurstLength: 1024, MaxOutstandingR2T: 4}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.ISID = [6]byte{0x80, 0, 0, 0, 1, byte(i)}
			s := dial(t, addr, tc.o)
			if s.Params.HeaderDigest != tc.o.HeaderDigest || s.Params.DataDigest != tc.o.DataDigest {
				t.Fatalf("digests negotiated %v/%v, offered %v/%v", s.Params.HeaderDigest, s.Params.DataDigest, tc.o.HeaderDigest, tc.o.DataDigest)
			}
			if s.Params.TSIH == 0 {
				t.Errorf("TSIH 0 after login")
			}
			if err := s.Nop([]byte("ping")); err != nil {
				t.Fatalf("nop: %v", err)
			}
			if err := s.TestUnitReady(0); err != nil {
				// The first command of a new nexus may report a unit attention.
				var se *SCSIError
				if !errors.As(err, &se) || se.Key() != scsi.SenseUnitAttention {
					t.Fatalf("TUR: %v", err)
				}
			}
			inq, err := s.Inquiry(0)
			if err != nil || len(inq) < 36 || inq[0]&0x1f != 0 {
				t.Fatalf("inquiry: %v % x", err, inq)
			}
			blocks, bs, err := s.ReadCapacity16(0)
			if err != nil || blocks != (16<<20)/512 || bs != 512 {
				t.Fatalf("read capacity: %d blocks of %d, %v", blocks, bs, err)
			}
			data := make([]byte, 40960+512)
			rand.NewChaCha8([32]byte{byte(i)}).Read(data)
			lba := uint64(i * 200)
			if err := s.Write(0, lba, data, 512, false); err != nil {
				t.Fatalf("write: %v", err)
			}
			got, err := s.Read(0, lba, uint32(len(data)/512), 512)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("read back: %v (equal=%v)", err, bytes.Equal(got, data))
			}
			if err := s.Logout(); err != nil {
				t.Fatalf("logout: %v", err)
			}
			if err := s.Nop(nil); err == nil {
				t.Fatalf("nop after logout succeeded")
			}
		})
	}
}

// TestResultFields checks what Command reports beyond the data: Data-In PDU count
// for a segmented read, R2T count for a solicited write, and underflow residuals.
func TestResultFields(t *testing.T) {
	addr := startTarget(t)
	s := dial(t, addr, Options{MaxRecvDataSegmentLength: 4096, ImmediateData: Bool(false), InitialR2T: Bool(true), MaxBurstLength: 8192})
	s.TestUnitReady(0) // clear a power-on unit attention, if any

	// WRITE(10) of 8 blocks (4096 bytes): with InitialR2T=Yes every byte is solicited.
	wcdb := []byte{0x2a, 0, 0, 0, 0, 8, 0, 0, 8, 0}
	r, err := s.Command(0, wcdb, make([]byte, 4096), 0)
	if err != nil || r.Status != 0 || r.R2Ts != 1 {
		t.Fatalf("write: %+v %v, want GOOD after 1 R2T", r, err)
	}
	// READ(10) of 4 blocks with room for 16: 2048 bytes come back, underflow 6144.
	rcdb := []byte{0x28, 0, 0, 0, 0, 8, 0, 0, 4, 0}
	r, err = s.Command(0, rcdb, nil, 8192)
	if err != nil || r.Status != 0 || len(r.Data) != 2048 || !r.ResidualUnderflow || r.Residual != 6144 {
		t.Fatalf("short read: %+v %v", r, err)
	}
	// READ(10) of 16 blocks: 8192 bytes in 4096-byte Data-In PDUs.
	rcdb[8] = 16
	r, err = s.Command(0, rcdb, nil, 8192)
	if err != nil || len(r.Data) != 8192 || r.DataInPDUs != 2 || r.ResidualUnderflow || r.ResidualOverflow {
		t.Fatalf("full read: %+v %v", r, err)
	}
}

func TestDiscoveryAndLoginErrors(t *testing.T) {
	addr := startTarget(t)
	s := dial(t, addr, Options{Discovery: true})
	kvs, err := s.SendTargets("All")
	if err != nil {
		t.Fatalf("SendTargets: %v", err)
	}
	if len(kvs) < 2 || kvs[0].Key != "TargetName" || kvs[0].Value != testTarget || kvs[1].Key != "TargetAddress" {
		t.Fatalf("SendTargets=All: %v", kvs)
	}
	if _, err := s.Command(0, make([]byte, 6), nil, 0); err == nil {
		t.Fatalf("SCSI command allowed in a discovery session")
	}

	_, err = Dial(addr, Options{InitiatorName: testInitiator, TargetName: "iqn.2026-11.dev.atgt:nope"})
	var le *LoginError
	if !errors.As(err, &le) || le.Status() != iscsi.LoginStatusNotFound {
		t.Fatalf("unknown target: %v, want login error 2/3 (not found)", err)
	}
	if _, err := Dial(addr, Options{InitiatorName: testInitiator}); err == nil {
		t.Fatalf("normal session without TargetName was attempted")
	}
}
