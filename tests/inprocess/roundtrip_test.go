package inprocess

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/atgt/atgt/messages/scsi"
	"github.com/atgt/atgt/tests/initiator"
)

// write16 builds a WRITE(16) CDB.
func write16(lba uint64, blocks uint32) []byte {
	cdb := make([]byte, 16)
	cdb[0] = scsi.OpWrite16
	binary.BigEndian.PutUint64(cdb[2:], lba)
	binary.BigEndian.PutUint32(cdb[10:], blocks)
	return cdb
}

// read16 builds a READ(16) CDB.
func read16(lba uint64, blocks uint32) []byte {
	cdb := write16(lba, blocks)
	cdb[0] = scsi.OpRead16
	return cdb
}

// TestRoundTrip writes random data of several sizes at several offsets under each
// negotiation that changes how write data travels, checks the R2T count the target
// needed, and reads the data back.
func TestRoundTrip(t *testing.T) {
	// LUN 0 is memory, LUN 1 a file: write data that arrives in several PDUs goes to
	// a file with one pwritev of the PDUs' buffers, and to memory through one buffer.
	svc := start(t, fileAndMemoryConfig(t), nil)
	addr := svc.Addrs()[0]
	sizes := []int{512, 4096, 8192 + 512, 65536, 1 << 20, 4 << 20}
	tests := []struct {
		name string
		o    initiator.Options
	}{
		{"defaults", initiator.Options{}},
		{"no immediate data, initial R2T", initiator.Options{ImmediateData: initiator.Bool(false), InitialR2T: initiator.Bool(true)}},
		{"immediate data, initial R2T", initiator.Options{ImmediateData: initiator.Bool(true), InitialR2T: initiator.Bool(true)}},
		{"unsolicited Data-Out only", initiator.Options{ImmediateData: initiator.Bool(false), InitialR2T: initiator.Bool(false)}},
		{"small bursts, 4 outstanding R2T", initiator.Options{MaxBurstLength: 8192, FirstBurstLength: 4096, MaxOutstandingR2T: 4, MaxRecvDataSegmentLength: 4096}},
		{"small bursts, initial R2T, 8 outstanding", initiator.Options{MaxBurstLength: 8192, FirstBurstLength: 2048, MaxOutstandingR2T: 8, ImmediateData: initiator.Bool(false), InitialR2T: initiator.Bool(true)}},
		{"CRC32C digests", initiator.Options{HeaderDigest: true, DataDigest: true, MaxBurstLength: 16384, FirstBurstLength: 8192, MaxOutstandingR2T: 2}},
	}
	maxPending := 0
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.ISID = isid(100 + i)
			s := dial(t, addr, tc.o)
			ready(t, s, 0)
			ready(t, s, 1)
			p := s.Params
			if p.MaxOutstandingR2T < 1 || (tc.o.MaxOutstandingR2T > 0 && p.MaxOutstandingR2T != tc.o.MaxOutstandingR2T) {
				t.Fatalf("MaxOutstandingR2T negotiated %d, offered %d", p.MaxOutstandingR2T, tc.o.MaxOutstandingR2T)
			}
			for k, size := range append(sizes, sizes...) {
				lun, j := uint64(k/len(sizes)), k%len(sizes)
				// Offsets: block aligned, spread so sizes do not overlap, one odd LBA.
				lba := uint64(j*(9<<20)/blockSize + 2*i + 1)
				data := randomData(uint64(i*100+j), size)
				t.Run(fmt.Sprintf("lun%d/%d", lun, size), func(t *testing.T) {
					r, err := s.Command(lun, write16(lba, uint32(size/blockSize)), data, 0)
					if err != nil || r.Status != 0 {
						t.Fatalf("write %d bytes at lba %d: %+v %v", size, lba, r, err)
					}
					// Solicited bytes are what unsolicited data (immediate plus Data-Out,
					// at most FirstBurstLength) did not cover; R2Ts ask for MaxBurstLength each.
					unsol := 0
					if p.ImmediateData || !p.InitialR2T {
						first := min(size, int(p.FirstBurstLength))
						if p.InitialR2T { // immediate data only
							first = min(first, int(p.MaxXmitDataSegmentLength))
						}
						unsol = first
					}
					mb := int(p.MaxBurstLength)
					if want := (size - unsol + mb - 1) / mb; r.R2Ts != want {
						t.Errorf("%d R2Ts, want %d (unsolicited %d, MaxBurstLength %d)", r.R2Ts, want, unsol, mb)
					}
					if r.MaxR2TsPending > int(p.MaxOutstandingR2T) {
						t.Errorf("target had %d R2Ts outstanding, MaxOutstandingR2T is %d", r.MaxR2TsPending, p.MaxOutstandingR2T)
					}
					maxPending = max(maxPending, r.MaxR2TsPending)
					mustReadBack(t, s, lun, lba, data)
				})
			}
			if err := s.Logout(); err != nil {
				t.Fatalf("logout: %v", err)
			}
		})
	}
	if maxPending < 2 {
		t.Errorf("no write ever saw more than %d R2T outstanding: MaxOutstandingR2T > 1 not exercised", maxPending)
	}
}
