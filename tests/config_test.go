package tests

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBadConfigRefused starts atgtd with broken configurations: each must make it exit
// non-zero at once, with a message that names the offending field, and serve nothing.
func TestBadConfigRefused(t *testing.T) {
	if buildErr != nil {
		t.Fatalf("building atgtd failed: %v", buildErr)
	}
	dir := t.TempDir()
	tests := []struct {
		name, config, want string
	}{
		{"unknown field", `{"targetz": []}`, "targetz"},
		{"not json", `{`, "config"},
		{"no targets", `{"portals":["127.0.0.1:0"]}`, "targets"},
		{"bad block size", `{"portals":["127.0.0.1:0"],"targets":[{"name":"iqn.2026-11.dev.atgt:x","luns":[{"id":0,"backend":"memory","sizeBytes":"1048576","blockSize":1000}]}]}`, "targets[0].luns[0].blockSize"},
		{"bad target name", `{"portals":["127.0.0.1:0"],"targets":[{"name":"disk","luns":[{"id":0,"backend":"memory","sizeBytes":"1048576"}]}]}`, "targets[0].name"},
		{"login timeout too long", `{"portals":["127.0.0.1:0"],"loginTimeoutSeconds":86400,"targets":[{"name":"iqn.2026-11.dev.atgt:x","luns":[{"id":0,"backend":"memory","sizeBytes":"1048576"}]}]}`, "loginTimeoutSeconds"},
		{"bad portal", `{"portals":["nowhere"],"targets":[{"name":"iqn.2026-11.dev.atgt:x","luns":[{"id":0,"backend":"memory","sizeBytes":"1048576"}]}]}`, "portals[0]"},
		{"unopenable lun", `{"portals":["127.0.0.1:0"],"targets":[{"name":"iqn.2026-11.dev.atgt:x","luns":[{"id":0,"path":"/proc/nonexistent/x.img","sizeBytes":"1048576"}]}]}`, "targets[0].luns[0]"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, "c"+string(rune('a'+i))+".json")
			if err := os.WriteFile(path, []byte(tc.config), 0o644); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, atgtdBin, "-config", path, "-data", dir).CombinedOutput()
			var ee *exec.ExitError
			if err == nil || !errors.As(err, &ee) || ee.ExitCode() == 0 {
				t.Fatalf("atgtd accepted the config (err=%v):\n%s", err, out)
			}
			if strings.Contains(string(out), "ready portal=") {
				t.Fatalf("atgtd reported ready with a bad config:\n%s", out)
			}
			if !strings.Contains(string(out), tc.want) {
				t.Fatalf("error does not name %q:\n%s", tc.want, out)
			}
		})
	}
}
