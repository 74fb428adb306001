package target

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/atgt/atgt/backend"
	pb "github.com/atgt/atgt/messages/atgtv1"
)

// hangingSync is a store whose fdatasync does not return (a dm-multipath volume
// with queue_if_no_path and no path, an NFS hard mount whose server is gone).
type hangingSync struct {
	backend.Backend
	release chan struct{}
	calls   *atomic.Int32
	// after is the store's own Sync's result once released: an error if the
	// store was closed under the flush in progress.
	after chan error
}

func (h hangingSync) Sync() error {
	h.calls.Add(1)
	<-h.release
	err := h.Backend.Sync()
	h.after <- err
	return err
}

type countingSync struct {
	backend.Backend
	calls *atomic.Int32
}

func (c countingSync) Sync() error { c.calls.Add(1); return c.Backend.Sync() }

// TestShutdownFlushIsBoundedAndParallel: Shutdown's final flush has a deadline
// (FinalFlushTimeout; short here), as the flush of `lun rm` and the stop of the
// tree have: one LUN whose fdatasync hangs must not keep Shutdown (and atgtd) from
// returning, past systemd's TimeoutStopSec (SIGKILL), nor keep the LUNs after it
// from being flushed. Shutdown's error names the LUN not flushed, and its backend
// is closed only once its flush has returned.
func TestShutdownFlushIsBoundedAndParallel(t *testing.T) {
	release := make(chan struct{})
	var hung, other atomic.Int32
	after := make(chan error, 1)
	wrap := func(_ string, id uint64, b backend.Backend) backend.Backend {
		if id == 0 {
			return hangingSync{b, release, &hung, after}
		}
		return countingSync{b, &other}
	}
	cfg := &pb.Config{
		Portals: []string{"127.0.0.1:0"},
		DataDir: t.TempDir(),
		Targets: []*pb.Target{{Name: DefaultTargetName, Luns: []*pb.Lun{
			{Id: 0, Path: "lun0.img", SizeBytes: 1 << 20},
			{Id: 1, Path: "lun1.img", SizeBytes: 1 << 20},
		}}},
	}
	svc, err := StartWith(cfg, hclog.NewNullLogger(), Options{WrapBackend: wrap})
	if err != nil {
		close(release)
		t.Fatal(err)
	}
	svc.flushTimeout = 300 * time.Millisecond
	done := make(chan error, 1)
	go func() { done <- svc.Shutdown(0) }()
	select {
	case err = <-done:
	case <-time.After(15 * time.Second):
		close(release)
		t.Fatalf("Shutdown has not returned 15 s after it began (flush bound 300 ms): the final flush of LUN 0 "+
			"hangs it (syncs: LUN 0 %d, LUN 1 %d)", hung.Load(), other.Load())
	}
	if other.Load() == 0 {
		t.Errorf("LUN 1 was never flushed: the flush of LUN 0 hangs it")
	}
	if err == nil || !strings.Contains(err.Error(), "LUN 0: flush did not finish") || strings.Contains(err.Error(), "LUN 1") {
		t.Errorf("Shutdown: %v; want an error naming LUN 0 (and only it) as not flushed", err)
	}
	close(release)
	select {
	case err := <-after:
		if err != nil {
			t.Errorf("LUN 0's store was closed under its flush in progress: its Sync, released, got %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Errorf("LUN 0's released flush did not return")
	}
}
