package target

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/protobuf/proto"

	pb "github.com/atgt/atgt/messages/atgtv1"
)

// lunInfo returns LUN id of the default target as ListLuns reports it, or nil.
func lunInfo(t *testing.T, svc *Service, id uint64) *pb.LunInfo {
	t.Helper()
	resp, err := svc.ListLuns(context.Background(), &pb.ListLunsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range resp.Luns {
		if l.Id == id {
			return l
		}
	}
	return nil
}

// waitState waits up to 20 s (four rechecks: a file is opened once two looks in a
// row saw it unchanged) for LUN id to be in state with a reason that contains
// reason, and returns it.
func waitState(t *testing.T, svc *Service, id uint64, state, reason string) *pb.LunInfo {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		l := lunInfo(t, svc, id)
		if l != nil && l.State == state && strings.Contains(l.Reason, reason) {
			return l
		}
		if time.Now().After(deadline) {
			t.Fatalf("LUN %d is %+v; want %s (%q)", id, l, state, reason)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestMissingLUNLive: a config change (ApplyConfig, as SIGHUP) that adds a LUN
// whose store is missing serves it missing; `lun add` of one is refused; a missing
// LUN is removed like any other (its route and actor go); one whose store appears
// too small stays missing, saying why, and comes online once the store is whole;
// served-stores.json records its store only from then on.
func TestMissingLUNLive(t *testing.T) {
	dir := t.TempDir()
	cfg := &pb.Config{Portals: []string{"127.0.0.1:0"}, DataDir: dir,
		Targets: []*pb.Target{{Name: DefaultTargetName, Luns: []*pb.Lun{{Id: 0, Backend: "memory", SizeBytes: 1 << 20}}}}}
	svc, err := StartWith(cfg, hclog.NewNullLogger(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Stop(10 * time.Second)
	ctx := context.Background()
	path := filepath.Join(dir, "later.img")
	withMissing := proto.Clone(cfg).(*pb.Config)
	withMissing.Targets[0].Luns = append(withMissing.Targets[0].Luns, &pb.Lun{Id: 1, Path: path})
	res, err := svc.ApplyConfig(ctx, &pb.ApplyConfigRequest{Config: withMissing})
	if err != nil {
		t.Fatalf("a change adding a LUN whose store is missing: %v", err)
	}
	if !strings.Contains(strings.Join(res.Changes, "\n"), "is missing") {
		t.Errorf("the change's answer does not say the added LUN's store is missing: %q", res.Changes)
	}
	if l := lunInfo(t, svc, 1); l == nil || l.State != lunMissing || l.Path != path || !strings.Contains(l.Reason, "sizeBytes") {
		t.Fatalf("ListLuns shows %+v; want LUN 1 missing at %s, saying to give sizeBytes", l, path)
	}
	if pid := svc.routes.Lookup(DefaultTargetName, 1); pid == nil {
		t.Fatal("the missing LUN is not routed")
	}
	recorded := func() bool {
		b, _ := os.ReadFile(filepath.Join(dir, storesFileName))
		return strings.Contains(string(b), path)
	}
	if recorded() {
		t.Errorf("%s records the missing store, which was never served", storesFileName)
	}
	_, err = svc.AddLun(ctx, &pb.AddLunRequest{Target: DefaultTargetName, Lun: &pb.Lun{Id: 2, Path: filepath.Join(dir, "typo.img")}})
	if err == nil || !strings.Contains(err.Error(), ".path") {
		t.Errorf("lun add of a missing store: %v; want refused naming the path", err)
	}
	if _, err := svc.RemoveLun(ctx, &pb.RemoveLunRequest{Target: DefaultTargetName, Id: 1}); err != nil {
		t.Fatalf("removing the missing LUN: %v", err)
	}
	if l := lunInfo(t, svc, 1); l != nil || svc.routes.Lookup(DefaultTargetName, 1) != nil {
		t.Fatalf("the removed missing LUN is still listed (%+v) or routed", l)
	}

	// Added again; its store appears empty (a copy starting), then whole.
	if _, err := svc.ApplyConfig(ctx, &pb.ApplyConfigRequest{Config: withMissing}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	waitState(t, svc, 1, lunMissing, "file is empty")
	if err := os.Truncate(path, 1<<20); err != nil {
		t.Fatal(err)
	}
	if l := waitState(t, svc, 1, lunOnline, ""); l.SizeBytes != 1<<20 {
		t.Errorf("online LUN 1: %+v; want 1 MiB", l)
	}
	// The record is written right after the LUN is listed online (missing.go:
	// the state changes first, then recordServedStores writes the file).
	for deadline := time.Now().Add(5 * time.Second); !recorded() && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if !recorded() {
		t.Errorf("%s does not record the store 5 s after it is served", storesFileName)
	}
	if !svc.metrics.LUN(DefaultTargetName, 1).Online() {
		t.Error("atgt_lun_online is 0 for the LUN online")
	}
}
