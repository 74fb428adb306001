package inprocess

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/atgt/atgt/backend"
	"github.com/atgt/atgt/messages/scsi"
	"github.com/atgt/atgt/tests/initiator"
)

// TestDurabilityCounters checks what the backend is asked to do (README
// "Durability"): with WCE=1 plain writes are neither stable nor synced; FUA writes
// are one stable write each and no sync; SYNCHRONIZE CACHE is one Sync; UNMAP is
// cached; MODE SELECT WCE=0 flushes the cache (one Sync); after it plain writes are
// stable writes, and an UNMAP is followed by a Sync.
func TestDurabilityCounters(t *testing.T) {
	var c backend.Counters
	svc := start(t, baseConfig(t), func(_ string, _ uint64, b backend.Backend) backend.Backend {
		return backend.WithCounters(b, &c)
	})
	s := dial(t, svc.Addrs()[0], initiator.Options{ISID: isid(600)})
	ready(t, s, 0)

	type counts struct{ writes, stable, syncs int64 }
	snap := func() counts { return counts{c.Writes.Load(), c.StableWrites.Load(), c.Syncs.Load()} }
	delta := func(a, b counts) counts { return counts{b.writes - a.writes, b.stable - a.stable, b.syncs - a.syncs} }

	// unmap deallocates 8 blocks at lba with UNMAP.
	unmap := func(lba uint64) error {
		p := make([]byte, 24)
		binary.BigEndian.PutUint16(p[0:], 22)
		binary.BigEndian.PutUint16(p[2:], 16)
		binary.BigEndian.PutUint64(p[8:], lba)
		binary.BigEndian.PutUint32(p[16:], 8)
		cdb := make([]byte, 10)
		cdb[0] = scsi.OpUnmap
		binary.BigEndian.PutUint16(cdb[7:], uint16(len(p)))
		r, err := s.Command(0, cdb, p, 0)
		if err == nil && r.Status != scsi.StatusGood {
			err = fmt.Errorf("UNMAP: status %d", r.Status)
		}
		return err
	}

	wce, err := s.ModeSenseWCE(0)
	if err != nil || !wce {
		t.Fatalf("initial WCE = %v, %v; want true (the default)", wce, err)
	}
	const n = 10
	steps := []struct {
		name string
		run  func() error
		// Backend calls wanted: a 4 KiB write is one WriteAt.
		writes, stable, syncs int64
	}{
		{"plain writes, WCE=1", func() error {
			for i := range n {
				if err := s.Write(0, uint64(i*8), randomData(uint64(i), 4096), blockSize, false); err != nil {
					return err
				}
			}
			return nil
		}, n, 0, 0},
		{"FUA writes", func() error {
			for i := range n {
				if err := s.Write(0, uint64(1000+i*8), randomData(uint64(i), 4096), blockSize, true); err != nil {
					return err
				}
			}
			return nil
		}, n, n, 0},
		// 256 KiB is more than FirstBurstLength (64 KiB): the rest comes in Data-Out
		// PDUs, which the target keeps as parts; each command is still one backend
		// write, and a FUA one is one stable write.
		{"plain writes in several PDUs, WCE=1", func() error {
			for i := range n {
				if err := s.Write(0, uint64(4000+i*512), randomData(uint64(i), 256<<10), blockSize, false); err != nil {
					return err
				}
			}
			return nil
		}, n, 0, 0},
		{"FUA writes in several PDUs", func() error {
			for i := range n {
				if err := s.Write(0, uint64(10000+i*512), randomData(uint64(i), 256<<10), blockSize, true); err != nil {
					return err
				}
			}
			return nil
		}, n, n, 0},
		{"SYNCHRONIZE CACHE", func() error { return s.SyncCache(0) }, 0, 0, 1},
		{"UNMAP, WCE=1", func() error { return unmap(3000) }, 0, 0, 0},
		{"MODE SELECT WCE=0", func() error { return s.ModeSelectWCE(0, false) }, 0, 0, 1},
		{"UNMAP, WCE=0", func() error { return unmap(3100) }, 0, 0, 1},
		{"plain writes, WCE=0", func() error {
			for i := range n {
				if err := s.Write(0, uint64(2000+i*8), randomData(uint64(i), 4096), blockSize, false); err != nil {
					return err
				}
			}
			return nil
		}, n, n, 0},
	}
	for _, st := range steps {
		before := snap()
		if err := st.run(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		d := delta(before, snap())
		if d.writes != st.writes {
			t.Errorf("%s: %d backend writes, want %d", st.name, d.writes, st.writes)
		}
		if d.stable != st.stable {
			t.Errorf("%s: %d stable writes, want %d", st.name, d.stable, st.stable)
		}
		if d.syncs != st.syncs {
			t.Errorf("%s: %d syncs, want %d", st.name, d.syncs, st.syncs)
		}
	}
	if wce, err := s.ModeSenseWCE(0); err != nil || wce {
		t.Fatalf("WCE after MODE SELECT = %v, %v; want false", wce, err)
	}
}
