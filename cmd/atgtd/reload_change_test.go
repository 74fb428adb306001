package main

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/atgt/atgt/actors/target"
	"github.com/atgt/atgt/backend"
	pb "github.com/atgt/atgt/messages/atgtv1"
)

// TestReloadDuringChangeKeepsIt: a SIGHUP that arrives while an atgtctl change is in
// progress must read the config file after that change saved it (under the change
// lock), not before: else the reload applies the file as it was before the change,
// and the acknowledged `lun add` is silently undone (forced removal).
func TestReloadDuringChangeKeepsIt(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "atgt.json")
	cfg := &pb.Config{
		Portals: []string{"127.0.0.1:0"},
		DataDir: dir,
		Targets: []*pb.Target{{Name: target.DefaultTargetName, Luns: []*pb.Lun{{Id: 0, Path: "lun0.img", SizeBytes: 1 << 20}}}},
	}
	b, _ := protojson.Marshal(cfg)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	var block atomic.Bool
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	wrap := func(_ string, lun uint64, b backend.Backend) backend.Backend {
		if block.Load() && lun == 1 {
			entered <- struct{}{}
			<-release
		}
		return b
	}
	log := hclog.NewNullLogger()
	svc, err := target.StartWith(cfg, log, target.Options{WrapBackend: wrap, ConfigPath: path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Stop(10 * time.Second) })
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	t.Cleanup(free) // before the Stop: a failed test must not leave the change blocked
	ctx := context.Background()
	block.Store(true)
	added := make(chan error, 1)
	go func() {
		_, err := svc.AddLun(ctx, &pb.AddLunRequest{Target: target.DefaultTargetName, Lun: &pb.Lun{Id: 1, Path: "lun1.img", SizeBytes: 1 << 20}})
		added <- err
	}()
	<-entered // the change holds the lock
	reloaded := make(chan struct{})
	go func() { reload(svc, path, log); close(reloaded) }()        // SIGHUP now
	waitForGoroutine(t, "atgtd.reload(", "target.(*Service).run(") // it waits for the change lock
	free()
	if err := <-added; err != nil {
		t.Fatalf("AddLun: %v", err)
	}
	<-reloaded
	lr, err := svc.ListLuns(ctx, &pb.ListLunsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(lr.Luns) != 2 {
		t.Fatalf("after an acknowledged `lun add` and a SIGHUP with no edit, %d LUNs are served, want 2: the reload undid the add", len(lr.Luns))
	}
}

// waitForGoroutine waits until a goroutine's stack holds every one of frames (it is
// blocked there).
func waitForGoroutine(t *testing.T, frames ...string) {
	t.Helper()
	buf := make([]byte, 1<<20)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
			all := true
			for _, f := range frames {
				all = all && strings.Contains(g, f)
			}
			if all {
				return
			}
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("no goroutine reached %v", frames)
}
