package inprocess

import (
	"context"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/atgt/atgt/actors/target"
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/tests/initiator"
)

// Removing the last allowed initiator (to revoke that host) would leave the list
// empty, which means "any initiator": it is refused, naming the target and the way to
// open it on purpose (allow_any), and the target stays closed. Before, the next
// login by any name succeeded. With allow_any the list empties as asked. The same
// holds for the last allowed network.
func TestAdminAclRemoveLastRefused(t *testing.T) {
	cfg, path := adminConfig(t)
	const only = "iqn.2026-11.dev.atgt:only-me"
	cfg.Targets[0].AllowedInitiators = []string{only}
	cfg.Targets[0].AllowedNetworks = []string{"127.0.0.0/8", "10.0.0.0/8"}
	svc := startWith(t, cfg, target.Options{ConfigPath: path})
	ctx := context.Background()
	login := func() error {
		s, err := initiator.Dial(svc.Addrs()[0], initiator.Options{InitiatorName: initiatorName, TargetName: targetName, Timeout: 5 * time.Second})
		if err == nil {
			s.Close()
		}
		return err
	}
	if login() == nil {
		t.Fatal("an initiator not on the list logged in before the change")
	}
	_, err := svc.RemoveAcl(ctx, &pb.RemoveAclRequest{Target: targetName, Initiator: only})
	if codeOf(err) != connect.CodeFailedPrecondition || !strings.Contains(err.Error(), targetName) ||
		!strings.Contains(err.Error(), "allow-any") || !strings.Contains(err.Error(), "last entry of allowedInitiators") {
		t.Fatalf("RemoveAcl of the last initiator: %v", err)
	}
	if login() == nil {
		t.Errorf("after a refused revoke of %s, the unlisted %s logs in: the target is open to every initiator", only, initiatorName)
	}
	// Networks: the first removal leaves one entry; the last is refused.
	if _, err := svc.RemoveAcl(ctx, &pb.RemoveAclRequest{Target: targetName, Network: "10.0.0.0/8"}); err != nil {
		t.Fatalf("RemoveAcl of one of two networks: %v", err)
	}
	_, err = svc.RemoveAcl(ctx, &pb.RemoveAclRequest{Target: targetName, Network: "127.0.0.0/8"})
	if codeOf(err) != connect.CodeFailedPrecondition || !strings.Contains(err.Error(), "last entry of allowedNetworks") {
		t.Fatalf("RemoveAcl of the last network: %v", err)
	}
	// On purpose: the list empties and every initiator may log in.
	if _, err := svc.RemoveAcl(ctx, &pb.RemoveAclRequest{Target: targetName, Initiator: only, AllowAny: true}); err != nil {
		t.Fatalf("RemoveAcl with allow_any: %v", err)
	}
	if err := login(); err != nil {
		t.Fatalf("allowedInitiators emptied on purpose, yet %s is refused: %v", initiatorName, err)
	}
}
