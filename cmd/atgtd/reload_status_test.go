package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/atgt/atgt/actors/target"
	pb "github.com/atgt/atgt/messages/atgtv1"
)

// TestReloadReportsStatus: `systemctl reload` returns once SIGHUP is sent, so a file
// that atgtd refuses must at least show in `systemctl status atgtd`: the reload sends
// STATUS= saying it failed and why, and a later good reload replaces it.
func TestReloadReportsStatus(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "atgt.json")
	cfg := &pb.Config{
		Portals: []string{"127.0.0.1:0"},
		DataDir: dir,
		Targets: []*pb.Target{{Name: target.DefaultTargetName, Luns: []*pb.Lun{{Id: 0, Path: "lun0.img", SizeBytes: 1 << 20}}}},
	}
	write := func(c *pb.Config) {
		b, _ := protojson.Marshal(c)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(cfg)
	log := hclog.NewNullLogger()
	svc, err := target.StartWith(cfg, log, target.Options{ConfigPath: path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Stop(10 * time.Second) })
	sock := filepath.Join(t.TempDir(), "notify")
	c := listenNotify(t, sock)
	t.Setenv("NOTIFY_SOCKET", sock)

	bad := &pb.Config{Portals: []string{"127.0.0.1:1"}, DataDir: dir, Targets: cfg.Targets}
	write(bad) // a portal changes only with a restart
	reload(svc, path, log)
	if got := receive(t, c); !strings.HasPrefix(got, "STATUS=reload FAILED at ") || !strings.Contains(got, "restart") || strings.Contains(got, "\n") {
		t.Fatalf("after a refused reload the service manager was told %q; want one STATUS= line saying it failed and why", got)
	}
	write(cfg)
	reload(svc, path, log)
	if got := receive(t, c); !strings.HasPrefix(got, "STATUS=reloaded at ") {
		t.Fatalf("after a good reload the service manager was told %q; want STATUS=reloaded ...", got)
	}
}
