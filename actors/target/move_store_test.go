package target

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/protobuf/proto"

	pb "github.com/atgt/atgt/messages/atgtv1"
)

// TestApplyRenumberLunSaysTwoSteps: a config that renumbers a LUN (id 1 -> id 2, same
// file) is refused, since the added LUN opens its store while the removed one holds
// it; the error must say truthfully that this same change removes the LUN holding
// the store, and to make it two changes (not "under another name"), and the two
// changes must then work.
func TestApplyRenumberLunSaysTwoSteps(t *testing.T) {
	dir := t.TempDir()
	cfg := &pb.Config{
		Portals: []string{"127.0.0.1:0"},
		DataDir: dir,
		Targets: []*pb.Target{{Name: DefaultTargetName, Luns: []*pb.Lun{
			{Id: 0, Path: "lun0.img", SizeBytes: 1 << 20}, {Id: 1, Path: "lun1.img", SizeBytes: 1 << 20}}}},
	}
	svc, err := StartWith(cfg, hclog.NewNullLogger(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Stop(10 * time.Second) })
	ctx := context.Background()
	got, _ := svc.GetConfig(ctx, &pb.GetConfigRequest{})
	next := proto.Clone(got.Config).(*pb.Config)
	next.Targets[0].Luns[1].Id = 2
	_, err = svc.ApplyConfig(ctx, &pb.ApplyConfigRequest{Config: next})
	if err == nil || strings.Contains(err.Error(), "under another name") ||
		!strings.Contains(err.Error(), "this same change removes") || !strings.Contains(err.Error(), "two changes") {
		t.Fatalf("renumbering lun 1 as lun 2: %v; want it refused, saying the change itself removes lun 1 and to make it two changes", err)
	}
	without := proto.Clone(got.Config).(*pb.Config)
	without.Targets[0].Luns = without.Targets[0].Luns[:1]
	if _, err := svc.ApplyConfig(ctx, &pb.ApplyConfigRequest{Config: without}); err != nil {
		t.Fatalf("first step (remove lun 1): %v", err)
	}
	if _, err := svc.ApplyConfig(ctx, &pb.ApplyConfigRequest{Config: next}); err != nil {
		t.Fatalf("second step (add lun 2 on its file): %v", err)
	}
}
