package target

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/protobuf/proto"

	"github.com/atgt/atgt/backend"
	pb "github.com/atgt/atgt/messages/atgtv1"
)

// TestAdminChangePanicUndone: a change that panics part way (here the open of the
// second of two new LUNs) is answered as failed and undone like one that returned an
// error: the first LUN's backend is closed and its new file removed, the served and
// saved config are unchanged, and the same LUN can be added right after (before, its
// open backend leaked with its file lock, and the file stayed).
func TestAdminChangePanicUndone(t *testing.T) {
	var panicNext atomic.Bool
	wrap := func(_ string, lun uint64, b backend.Backend) backend.Backend {
		if panicNext.Load() && lun == 2 {
			panic("injected panic opening lun 2")
		}
		return b
	}
	dir := t.TempDir()
	cfg := &pb.Config{
		Portals: []string{"127.0.0.1:0"},
		DataDir: dir,
		Targets: []*pb.Target{{Name: DefaultTargetName, Luns: []*pb.Lun{{Id: 0, Path: "lun0.img", SizeBytes: 1 << 20}}}},
	}
	logs := &lockedBuffer{}
	svc, err := StartWith(cfg, hclog.New(&hclog.LoggerOptions{Level: hclog.Error, Output: logs}), Options{WrapBackend: wrap})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Stop(10 * time.Second) })
	ctx := context.Background()
	got, err := svc.GetConfig(ctx, &pb.GetConfigRequest{})
	if err != nil {
		t.Fatal(err)
	}
	before := got.Config
	next := proto.Clone(before).(*pb.Config)
	next.Targets[0].Luns = append(next.Targets[0].Luns,
		&pb.Lun{Id: 1, Path: "lun1.img", SizeBytes: 1 << 20}, &pb.Lun{Id: 2, Path: "lun2.img", SizeBytes: 1 << 20})
	panicNext.Store(true)
	_, err = svc.ApplyConfig(ctx, &pb.ApplyConfigRequest{Config: next})
	if err == nil || !strings.Contains(err.Error(), "injected panic") || !strings.Contains(err.Error(), "nothing was applied") {
		t.Fatalf("ApplyConfig: %v, want the panic reported with nothing applied", err)
	}
	if !strings.Contains(logs.String(), "admin change panicked") {
		t.Errorf("the panic was not logged: %s", logs)
	}
	if lr, _ := svc.ListLuns(ctx, &pb.ListLunsRequest{}); len(lr.GetLuns()) != 1 {
		t.Fatalf("%d LUNs served after the failed change, want 1", len(lr.GetLuns()))
	}
	if after, _ := svc.GetConfig(ctx, &pb.GetConfigRequest{}); !proto.Equal(after.GetConfig(), before) {
		t.Fatalf("config changed by a failed change:\n%v\nwant\n%v", after.GetConfig(), before)
	}
	for _, f := range []string{"lun1.img", "lun2.img"} {
		if _, err := os.Stat(filepath.Join(dir, f)); !os.IsNotExist(err) {
			t.Fatalf("%s, created by the failed change, is still there: %v", f, err)
		}
	}
	panicNext.Store(false)
	if _, err := svc.AddLun(ctx, &pb.AddLunRequest{Target: DefaultTargetName, Lun: &pb.Lun{Id: 1, Path: "lun1.img", SizeBytes: 1 << 20}}); err != nil {
		t.Fatalf("adding lun 1 after the failed change: %v", err)
	}
}
