package inprocess

import (
	"context"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/atgt/atgt/actors/target"
	pb "github.com/atgt/atgt/messages/atgtv1"
)

// The admin path refuses a CHAP secret in both roles as the config file does: a new
// target whose chap secret is a served target's mutual_chap secret (RFC 7143
// 12.1.3), also through ApplyConfig with the served secret kept from GetConfig.
func TestAdminChapSecretInBothRolesRefused(t *testing.T) {
	cfg, path := adminConfig(t)
	const mutual = "target-proves-itself-1"
	cfg.Targets[0].Chap = &pb.Chap{User: "alice", Secret: "alice-secret-1234"}
	cfg.Targets[0].MutualChap = &pb.Chap{User: "atgt", Secret: mutual}
	svc := startWith(t, cfg, target.Options{ConfigPath: path})
	ctx := context.Background()
	add := &pb.Target{Name: "iqn.2026-11.dev.atgt:b", Chap: &pb.Chap{User: "bob", Secret: mutual},
		Luns: []*pb.Lun{{Id: 0, Backend: "memory", SizeBytes: lunSize}}}
	_, err := svc.AddTarget(ctx, &pb.AddTargetRequest{Target: add})
	if codeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), "targets[0].mutualChap.secret: equals targets[1].chap.secret") {
		t.Fatalf("AddTarget with the served mutual secret as chap: %v", err)
	}
	if strings.Contains(err.Error(), mutual) {
		t.Fatalf("error shows the secret: %v", err)
	}
	// GetConfig leaves secrets out; apply keeps them, and the check sees them.
	got, err := svc.GetConfig(ctx, &pb.GetConfigRequest{})
	if err != nil {
		t.Fatal(err)
	}
	next := proto.Clone(got.Config).(*pb.Config)
	next.DiscoveryChap = &pb.Chap{User: "disco", Secret: mutual}
	if _, err := svc.ApplyConfig(ctx, &pb.ApplyConfigRequest{Config: next}); codeOf(err) != connect.CodeInvalidArgument ||
		!strings.Contains(err.Error(), "targets[0].mutualChap.secret: equals discoveryChap.secret") {
		t.Fatalf("ApplyConfig with discoveryChap = the served mutual secret: %v", err)
	}
}
