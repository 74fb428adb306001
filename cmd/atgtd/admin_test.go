package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/atgt/atgt/actors/admin/admintest"
	pb "github.com/atgt/atgt/messages/atgtv1"
)

// TestAdminSocketPath: -admin-socket's default follows the data directory, "off"
// turns it off, and a path is used as given.
func TestAdminSocketPath(t *testing.T) {
	for _, tc := range []struct {
		flag, dataDir, want string
	}{
		{"", "", "atgt-data/atgtd.sock"},
		{"", "/var/lib/atgt", "/var/lib/atgt/atgtd.sock"},
		{"off", "/var/lib/atgt", ""},
		{"/run/atgt/admin.sock", "/var/lib/atgt", "/run/atgt/admin.sock"},
	} {
		if got := adminSocketPath(tc.flag, &pb.Config{DataDir: tc.dataDir}); got != tc.want {
			t.Errorf("adminSocketPath(%q, data %q) = %q, want %q", tc.flag, tc.dataDir, got, tc.want)
		}
	}
}

// TestServeAdmin: serveAdmin serves the socket (removed again by Close) and serves
// nothing when both forms are off.
func TestServeAdmin(t *testing.T) {
	api := admintest.New(admintest.Sample())
	if srv, err := serveAdmin(api, "", "", "", hclog.NewNullLogger()); srv != nil || err != nil {
		t.Fatalf("both off: %v, %v; want nothing served", srv, err)
	}
	dir := t.TempDir()
	sock, tokenFile := filepath.Join(dir, "atgtd.sock"), filepath.Join(dir, "admin.token")
	srv, err := serveAdmin(api, sock, "127.0.0.1:0", tokenFile, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(sock); err != nil || srv.TCPAddr() == nil {
		t.Fatalf("socket %v, TCP %v", err, srv.TCPAddr())
	}
	if fi, err := os.Stat(tokenFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file %v %v, want one made mode 0600", fi, err)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Fatalf("socket after Close: %v", err)
	}
	if _, err := serveAdmin(api, "", "0.0.0.0:0", tokenFile, hclog.NewNullLogger()); err == nil {
		t.Fatal("-admin-addr 0.0.0.0:0 served; want a refusal")
	}
}
