package inprocess

import (
	"sync"
	"testing"

	"github.com/atgt/atgt/tests/initiator"
)

// TestIdleRetention: a well-behaved initiator reads and writes 4 MiB blocks at a
// queue depth of 16, then logs out. The records carved from slabs (IO workers'
// completions, LUNs' IO requests, connections' tasks) live on in their chunks and
// must not keep the data buffers of finished IOs reachable.
func TestIdleRetention(t *testing.T) {
	cfg := baseConfig(t)
	svc := start(t, cfg, nil)
	addr := svc.Addrs()[0]
	s := dial(t, addr, initiator.Options{ISID: isid(950), MaxBurstLength: 1 << 20})
	ready(t, s, 0)
	live := func() uint64 { return liveHeap() >> 20 }
	base := live()
	const xfer = 4 << 20
	data := make([]byte, xfer)
	var wg sync.WaitGroup
	for q := 0; q < 16; q++ {
		wg.Add(1)
		go func(q int) {
			defer wg.Done()
			for i := 0; i < 8; i++ {
				lba := uint64((q*8+i)%16) * (xfer / blockSize)
				if _, err := s.Read(0, lba, xfer/blockSize, blockSize); err != nil {
					t.Error(err)
					return
				}
			}
		}(q)
	}
	wg.Wait()
	afterReads := live()
	for q := 0; q < 16; q++ {
		wg.Add(1)
		go func(q int) {
			defer wg.Done()
			for i := 0; i < 8; i++ {
				lba := uint64((q*8+i)%16) * (xfer / blockSize)
				if err := s.Write(0, lba, data, blockSize, false); err != nil {
					t.Error(err)
					return
				}
			}
		}(q)
	}
	wg.Wait()
	afterWrites := live()
	s.Logout()
	afterLogout := live()
	t.Logf("live heap MiB: base %d, after 128 reads of 4 MiB %d, after 128 writes of 4 MiB %d, after logout %d",
		base, afterReads, afterWrites, afterLogout)
	if afterWrites > base+24 {
		t.Errorf("%d MiB stay live after the IO ended", afterWrites-base)
	}
	if afterLogout > base+24 {
		t.Errorf("%d MiB stay live after the session logged out", afterLogout-base)
	}
}
