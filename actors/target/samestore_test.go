package target

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/atgt/atgt/backend"
	pb "github.com/atgt/atgt/messages/atgtv1"
)

// Two LUNs on one backing file under different names (a symlink, /proc/self/root/...)
// are refused when the second is opened, naming both LUNs; before, only the same
// spelling was refused and each name got its own LUN actor on shared sectors.
func TestSameStoreTwoNamesRefused(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "a.img")
	if err := os.WriteFile(img, make([]byte, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "b.img")
	if err := os.Symlink(img, link); err != nil {
		t.Fatal(err)
	}
	for _, other := range []string{link, "/proc/self/root" + img} {
		cfg := &pb.Config{Portals: []string{"127.0.0.1:0"}, DataDir: dir, Targets: []*pb.Target{
			{Name: "iqn.2026-11.dev.atgt:a", Luns: []*pb.Lun{{Id: 0, Path: img}}},
			{Name: "iqn.2026-11.dev.atgt:b", Luns: []*pb.Lun{{Id: 3, Path: other}}},
		}}
		svc, err := Start(cfg, hclog.NewNullLogger())
		if err == nil {
			svc.Stop(10 * time.Second)
			t.Errorf("two LUNs on %s (as %s) accepted", img, other)
			continue
		}
		if !strings.Contains(err.Error(), "targets[1].luns[0].path") || !strings.Contains(err.Error(), "lun 0 of iqn.2026-11.dev.atgt:a") {
			t.Errorf("%s: %v, want both LUNs named", other, err)
		}
	}
	// A file another process (here: another open of it) serves is refused, locked.
	b, err := backend.Open(backend.Options{Path: img})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	cfg := &pb.Config{Portals: []string{"127.0.0.1:0"}, DataDir: dir, Targets: []*pb.Target{
		{Name: "iqn.2026-11.dev.atgt:a", Luns: []*pb.Lun{{Id: 0, Path: link}}},
	}}
	svc, err := Start(cfg, hclog.NewNullLogger())
	if err == nil {
		svc.Stop(10 * time.Second)
		t.Fatal("a file locked by another opener was served")
	}
	if !errors.Is(err, backend.ErrInUse) || !strings.Contains(err.Error(), "targets[0].luns[0]") {
		t.Fatalf("locked file: %v", err)
	}
}
