package inprocess

import (
	"context"
	"os"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/atgt/atgt/actors/target"
	pb "github.com/atgt/atgt/messages/atgtv1"
)

// A config file that holds no secret may be mode 0644 (atgtd accepts it). An admin
// change that adds an inline CHAP secret saves it mode 0600, and the kept versions
// lose their group and other permissions, so the secret is never world-readable and
// the next start (LoadConfig) accepts the file. Before, the file kept 0644: the
// secret leaked and the next start refused the file.
func TestAdminSavedSecretIsPrivate(t *testing.T) {
	cfg, path := adminConfig(t)
	raw, err := protojson.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := target.LoadConfig(path); err != nil {
		t.Fatalf("a 0644 config without secrets is refused: %v", err)
	}
	svc := startWith(t, cfg, target.Options{ConfigPath: path})
	// A change without a secret keeps the file's mode.
	next := proto.Clone(cfg).(*pb.Config)
	next.Targets[0].Alias = "disk"
	if _, err := svc.ApplyConfig(context.Background(), &pb.ApplyConfigRequest{Config: next}); err != nil {
		t.Fatalf("ApplyConfig: %v", err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("a change without secrets: %v %v, want mode 0644 kept", fi.Mode(), err)
	}
	next = proto.Clone(next).(*pb.Config)
	next.Targets[0].Chap = &pb.Chap{User: "alice", Secret: "very-secret-chap-value"}
	if _, err := svc.ApplyConfig(context.Background(), &pb.ApplyConfigRequest{Config: next}); err != nil {
		t.Fatalf("ApplyConfig: %v", err)
	}
	body, err := os.ReadFile(path)
	if err != nil || !strings.Contains(string(body), "very-secret-chap-value") {
		t.Fatalf("the secret was not saved: %v", err)
	}
	for _, p := range []string{path, path + ".1", path + ".2"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s mode %04o after a secret was saved, want no group or other permission", p, fi.Mode().Perm())
		}
	}
	if _, err := target.LoadConfig(path); err != nil {
		t.Errorf("the saved config does not load: %v", err)
	}
}
