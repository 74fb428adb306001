package target

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/go-hclog"

	"github.com/atgt/atgt/actors/dispatcher"
	pb "github.com/atgt/atgt/messages/atgtv1"
)

// TestSharedDataDirKeepsStores: two Services of one embedder share a data directory
// (their target names differ, as the README allows). Each records the stores it
// served without dropping the other's, so that a store of the first that is missing
// at its next start is served missing (NOT READY), not created blank; a LUN the first
// removes leaves the record, and the second's stays.
func TestSharedDataDirKeepsStores(t *testing.T) {
	sys := actor.NewActorSystem(WithLogger(hclog.NewNullLogger()))
	defer sys.Shutdown()
	dir := t.TempDir()
	config := func(name string, luns ...string) *pb.Config {
		cfg := &pb.Config{Portals: []string{"127.0.0.1:0"}, DataDir: dir, Targets: []*pb.Target{{Name: "iqn.2026-11.dev.atgt:" + name}}}
		for i, l := range luns {
			cfg.Targets[0].Luns = append(cfg.Targets[0].Luns, &pb.Lun{Id: uint64(i), Path: filepath.Join(dir, l), SizeBytes: 1 << 20})
		}
		return cfg
	}
	start := func(cfg *pb.Config, name string) *Service {
		t.Helper()
		svc, err := StartWith(cfg, hclog.NewNullLogger(), Options{System: sys, Name: name})
		if err != nil {
			t.Fatal(err)
		}
		return svc
	}
	a := start(config("a", "a0.img", "a1.img"), "a")
	b := start(config("b", "b0.img"), "b")
	b.Stop(10 * time.Second)
	a.Stop(10 * time.Second)              // a wrote the record last
	a = start(config("a", "a0.img"), "a") // a1 removed from a's config
	a.Stop(10 * time.Second)
	served, err := loadServedStores(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !served[filepath.Join(dir, "a0.img")] || !served[filepath.Join(dir, "b0.img")] || served[filepath.Join(dir, "a1.img")] {
		t.Fatalf("record %v; want a0.img and b0.img, not a1.img (removed from a)", served)
	}
	if err := os.Remove(filepath.Join(dir, "b0.img")); err != nil {
		t.Fatal(err)
	}
	b = start(config("b", "b0.img"), "b")
	defer b.Stop(10 * time.Second)
	if b.missing[dispatcher.Key{Target: "iqn.2026-11.dev.atgt:b", LUN: 0}] == nil {
		t.Fatal("b's vanished store was created blank: a's record dropped it")
	}
	if _, err := os.Stat(filepath.Join(dir, "b0.img")); err == nil {
		t.Fatal("b0.img was created")
	}
}
