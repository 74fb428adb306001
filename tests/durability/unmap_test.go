package durability

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/atgt/atgt/backend"
	"github.com/atgt/atgt/messages/scsi"
)

// TestWriteSameUnmapWCE0IsStable: with WCE=0 every write command is on the medium
// before GOOD (SBC-4, Caching mode page WCE), and Linux sends no SYNCHRONIZE CACHE
// to such a disk. WRITE SAME(16) with UNMAP and a zero block on a thin LUN becomes a
// deallocation; it must survive a power loss that drops everything cached, as the
// control (a non-zero block, written) does. Plain UNMAP under WCE=0 is covered by
// the power-loss workload.
func TestWriteSameUnmapWCE0IsStable(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fill  byte
		unmap bool
	}{
		{"zero block with UNMAP", 0, true},
		{"control: non-zero block", 0x5a, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			img := randomBytes(rng, lunBytes) // old data everywhere
			o := backend.CrashSimOptions{BlockSize: blockSize}
			p := powerUp(t, img, o, honest, 1, "")
			s := p.sessions[0]
			if err := retryUA(func() error { return s.ModeSelectWCE(0, false) }); err != nil {
				t.Fatalf("MODE SELECT WCE=0: %v", err)
			}
			const lba, blocks = 16, 8
			cdb := make([]byte, 16)
			cdb[0] = scsi.OpWriteSame16
			if tc.unmap {
				cdb[1] = 0x08 // UNMAP
			}
			binary.BigEndian.PutUint64(cdb[2:], lba)
			binary.BigEndian.PutUint32(cdb[10:], blocks)
			blk := bytes.Repeat([]byte{tc.fill}, blockSize)
			r, err := s.Command(0, cdb, blk, 0)
			if err != nil || r.Status != scsi.StatusGood {
				t.Fatalf("WRITE SAME: %v %+v", err, r)
			}
			got, err := s.Read(0, lba, blocks, blockSize)
			if err != nil || !bytes.Equal(got, bytes.Repeat(blk, blocks)) {
				t.Fatalf("read back before power loss: %v", err)
			}
			rep := p.sim.PowerLoss(nil) // drop everything not stable
			t.Logf("power loss: %+v", rep)
			surv := p.sim.Surviving()
			want := bytes.Repeat(blk, blocks)
			if have := surv[lba*blockSize : (lba+blocks)*blockSize]; !bytes.Equal(have, want) {
				t.Errorf("WCE=0: WRITE SAME answered GOOD, but after a power loss LBA %d..%d hold the old data (first byte %#x, want %#x)",
					lba, lba+blocks-1, have[0], tc.fill)
			}
		})
	}
}
