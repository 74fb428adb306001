package initiator

import (
	"bytes"
	"testing"
	"time"
)

// TestPipeline: sequential and random writes with immediate data, through R2T and
// Data-Out (small FirstBurstLength, several Data-Out PDUs per R2T), and without
// immediate data; then reads. The data is checked through an ordinary session.
func TestPipeline(t *testing.T) {
	addr := startTarget(t)
	const blocks = 16 << 20 / 512
	tests := []struct {
		name string
		o    Options
		size int
	}{
		{"immediate", Options{}, 4096},
		{"R2T with several Data-Out", Options{FirstBurstLength: 4096, MaxRecvDataSegmentLength: 8192}, 64 << 10},
		{"no immediate data", Options{ImmediateData: Bool(false)}, 16 << 10},
		{"InitialR2T=Yes", Options{InitialR2T: Bool(true), FirstBurstLength: 8192}, 32 << 10},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.o
			o.InitiatorName, o.TargetName, o.Timeout = testInitiator, testTarget, 5*time.Second
			o.ISID = [6]byte{0x80, 0, 0, 0, 1, byte(i)}
			raw, err := DialRaw(addr, o)
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Conn.Close()
			// The first command meets the new nexus's unit attention.
			warm, err := raw.NewPipeline(PipelineConfig{BlockSize: 512, Blocks: blocks, Size: 512, Depth: 1})
			if err != nil {
				t.Fatal(err)
			}
			if err := warm.Run(1, false); err != nil {
				t.Fatal(err)
			}
			for _, random := range []bool{false, true} {
				for _, write := range []bool{true, false} {
					pl, err := raw.NewPipeline(PipelineConfig{BlockSize: 512, Blocks: blocks, Size: tc.size,
						Write: write, Random: random, Depth: 8, Seed: uint64(i)})
					if err != nil {
						t.Fatal(err)
					}
					if err := pl.Run(200, true); err != nil {
						t.Fatalf("random=%v write=%v: %v", random, write, err)
					}
					// Every command moved all its data: READs received, WRITEs taken.
					if got, want := pl.Bytes(), int64(200*tc.size); got != want {
						t.Fatalf("random=%v write=%v: Bytes %d, want %d", random, write, got, want)
					}
				}
			}
			// Sequential writes covered the first 200 slots with the pattern.
			s := dial(t, addr, Options{ISID: [6]byte{0x80, 0, 0, 0, 2, byte(i)}})
			s.TestUnitReady(0) // the unit attention of this nexus
			got, err := s.Read(0, 0, uint32(tc.size/512), 512)
			if err != nil {
				t.Fatal(err)
			}
			want := make([]byte, tc.size)
			for j := range want {
				want[j] = byte(j*7 + 1)
			}
			if !bytes.Equal(got, want) {
				t.Fatal("data written by the pipeline differs")
			}
		})
	}
}
