package target

import (
	"context"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	pb "github.com/atgt/atgt/messages/atgtv1"
)

// TestAclRmDuplicatedLastEntryRefused: the last-entry guard of `acl rm` counts
// distinct entries: a list that names its only initiator twice (validation allows it)
// must not be emptied by one `acl rm` without -allow-any, which would open the target
// to every initiator.
func TestAclRmDuplicatedLastEntryRefused(t *testing.T) {
	dir := t.TempDir()
	cfg := &pb.Config{
		Portals: []string{"127.0.0.1:0"},
		DataDir: dir,
		Targets: []*pb.Target{{Name: DefaultTargetName, AllowedInitiators: []string{"iqn.2026-11.dev.host:a", "iqn.2026-11.dev.host:a"},
			Luns: []*pb.Lun{{Id: 0, Path: "lun0.img", SizeBytes: 1 << 20}}}},
	}
	svc, err := StartWith(cfg, hclog.NewNullLogger(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Stop(10 * time.Second) })
	_, err = svc.RemoveAcl(context.Background(), &pb.RemoveAclRequest{Target: DefaultTargetName, Initiator: "iqn.2026-11.dev.host:a"})
	lt, _ := svc.ListTargets(context.Background(), &pb.ListTargetsRequest{})
	if err == nil && len(lt.Targets[0].AllowedInitiators) == 0 {
		t.Fatalf("acl rm of the only initiator (listed twice) emptied allowedInitiators without -allow-any: the target admits every initiator")
	}
	if err == nil {
		t.Fatalf("acl rm of the only initiator (listed twice) answered success: %v", lt.Targets[0].AllowedInitiators)
	}
}
