package target

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/atgt/atgt/backend"
	pb "github.com/atgt/atgt/messages/atgtv1"
)

// lockedBuffer is a log sink safe for the service's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestRemoveLunFlushes: `lun rm` flushes the backend before closing it, so that
// writes acknowledged under WCE=1 are durable, and a failed flush is logged as an
// error and makes `lun rm` fail (exit non-zero, the removal itself done), since the
// kernel reports a writeback error only once and the backend's record of it is
// closed with it.
func TestRemoveLunFlushes(t *testing.T) {
	for _, fail := range []bool{false, true} {
		var counts backend.Counters
		wrap := func(_ string, _ uint64, b backend.Backend) backend.Backend {
			b = backend.WithFaults(b, func(op string, _ int64) (bool, error) {
				if op == "sync" && fail {
					return false, errors.New("injected EIO")
				}
				return false, nil
			})
			return backend.WithCounters(b, &counts)
		}
		logs := &lockedBuffer{}
		log := hclog.New(&hclog.LoggerOptions{Level: hclog.Error, Output: logs})
		cfg := &pb.Config{
			Portals: []string{"127.0.0.1:0"},
			DataDir: t.TempDir(),
			Targets: []*pb.Target{{Name: DefaultTargetName, Luns: []*pb.Lun{
				{Id: 0, Path: "lun0.img", SizeBytes: 1 << 20},
				{Id: 1, Path: "lun1.img", SizeBytes: 1 << 20},
			}}},
		}
		svc, err := StartWith(cfg, log, Options{WrapBackend: wrap})
		if err != nil {
			t.Fatal(err)
		}
		_, err = svc.RemoveLun(context.Background(), &pb.RemoveLunRequest{Target: DefaultTargetName, Id: 1})
		if (err != nil) != fail || fail && !strings.Contains(err.Error(), "flush of removed lun 1") {
			t.Fatalf("fail=%v: RemoveLun: %v", fail, err)
		}
		if lr, _ := svc.ListLuns(context.Background(), &pb.ListLunsRequest{}); len(lr.GetLuns()) != 1 {
			t.Errorf("fail=%v: after the removal %d LUNs are listed, want 1", fail, len(lr.GetLuns()))
		}
		if n := counts.Syncs.Load(); n != 1 {
			t.Errorf("fail=%v: %d syncs at removal, want 1", fail, n)
		}
		logged := strings.Contains(logs.String(), "flush of a removed LUN failed")
		if logged != fail {
			t.Errorf("fail=%v: error logged %v; log: %s", fail, logged, logs.String())
		}
		if err := svc.Stop(10 * time.Second); err != nil && !fail {
			t.Fatalf("stop: %v", err)
		}
	}
}
