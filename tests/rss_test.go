package tests

import (
	"bytes"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"
)

// What the bounds tests read of a process's resident memory.

// rssSampler records the most resident memory a process reaches.
type rssSampler struct {
	peak atomic.Int64
	stop chan struct{}
	done chan struct{}
}

// sampleRSS samples pid's VmRSS every 50 ms until stop.
func sampleRSS(t *testing.T, pid int) *rssSampler {
	s := &rssSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			if v := int64(readRSS(pid)); v > s.peak.Load() {
				s.peak.Store(v)
			}
			select {
			case <-s.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return s
}

// end stops the sampler and returns the peak in KiB.
func (s *rssSampler) end() int {
	close(s.stop)
	<-s.done
	return int(s.peak.Load())
}

// readRSS is rssKiB without a test (0 if the process is gone).
func readRSS(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range bytes.Split(b, []byte("\n")) {
		if bytes.HasPrefix(l, []byte("VmRSS:")) {
			var v int
			fmt.Sscanf(string(l[len("VmRSS:"):]), "%d", &v)
			return v
		}
	}
	return 0
}
