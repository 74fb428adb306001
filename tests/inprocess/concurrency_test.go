package inprocess

import (
	"fmt"
	"sync"
	"testing"

	"github.com/atgt/atgt/tests/initiator"
)

// TestConcurrentSessions has four sessions (own ISIDs) write disjoint regions at the
// same time; each verifies its own region, and a fifth session verifies all of them.
func TestConcurrentSessions(t *testing.T) {
	svc := start(t, baseConfig(t), nil)
	addr := svc.Addrs()[0]
	const (
		sessions = 4
		region   = 4 << 20 // bytes per session
		chunk    = 128 << 10
	)
	data := make([][]byte, sessions)
	var wg sync.WaitGroup
	errs := make(chan error, sessions)
	for n := range sessions {
		data[n] = randomData(uint64(1000+n), region)
		s := dial(t, addr, initiator.Options{ISID: isid(200 + n), MaxBurstLength: 65536, FirstBurstLength: 16384, MaxOutstandingR2T: 2})
		ready(t, s, 0)
		wg.Add(1)
		go func() {
			defer wg.Done()
			base := uint64(n * region / blockSize)
			for off := 0; off < region; off += chunk {
				if err := s.Write(0, base+uint64(off/blockSize), data[n][off:off+chunk], blockSize, false); err != nil {
					errs <- fmt.Errorf("session %d write at %d: %w", n, off, err)
					return
				}
			}
			got, err := s.Read(0, base, region/blockSize, blockSize)
			if err != nil {
				errs <- fmt.Errorf("session %d read: %w", n, err)
				return
			}
			if string(got) != string(data[n]) {
				errs <- fmt.Errorf("session %d read back different data", n)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	v := dial(t, addr, initiator.Options{ISID: isid(299)})
	ready(t, v, 0)
	for n := range sessions {
		mustReadBack(t, v, 0, uint64(n*region/blockSize), data[n])
	}
}

// TestQueueDepth keeps 32 commands outstanding in one session: with a window wider
// than that, and with a 4-command window the initiator must wait on MaxCmdSN. Writes
// first, then reads of the same blocks, all in flight together.
func TestQueueDepth(t *testing.T) {
	const outstanding, size = 32, 64 << 10
	for _, depth := range []uint32{128, 4} {
		t.Run(fmt.Sprint("window ", depth), func(t *testing.T) {
			cfg := baseConfig(t)
			cfg.QueueDepth = depth
			svc := start(t, cfg, nil)
			s := dial(t, svc.Addrs()[0], initiator.Options{ISID: isid(300), MaxBurstLength: 16384, FirstBurstLength: 8192, MaxOutstandingR2T: 2})
			ready(t, s, 0)
			data := make([][]byte, outstanding)
			tasks := make([]*initiator.Task, outstanding)
			for i := range outstanding {
				data[i] = randomData(uint64(2000+i), size)
				tasks[i] = s.Submit(0, write16(uint64(i*size/blockSize), size/blockSize), data[i], 0)
			}
			for i, tk := range tasks {
				if r, err := tk.Wait(); err != nil || r.Status != 0 {
					t.Fatalf("write %d: %+v %v", i, r, err)
				}
			}
			for i := range outstanding {
				tasks[i] = s.Submit(0, read16(uint64(i*size/blockSize), size/blockSize), nil, size)
			}
			for i, tk := range tasks {
				r, err := tk.Wait()
				if err != nil || r.Status != 0 {
					t.Fatalf("read %d: %+v %v", i, r, err)
				}
				if string(r.Data) != string(data[i]) {
					t.Fatalf("read %d: data differs from what was written", i)
				}
			}
			if err := s.Nop([]byte("still there")); err != nil {
				t.Fatalf("nop after the burst: %v", err)
			}
		})
	}
}
