package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/atgt/atgt/actors/admin"
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

// TestServeAdminRotatesToken: each start writes a new token, so that a token taken
// while atgtd was down (by a process holding its port) is refused once it runs.
func TestServeAdminRotatesToken(t *testing.T) {
	api := admintest.New(admintest.Sample())
	tokenFile := filepath.Join(t.TempDir(), "admin.token")
	old := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	if err := os.WriteFile(tokenFile, []byte(old+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv, err := serveAdmin(api, "", "127.0.0.1:0", tokenFile, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	tok, err := admin.ReadToken(tokenFile)
	if err != nil || tok == old {
		t.Fatalf("token after start: err %v, unchanged %v: a token taken before the start still works", err, tok == old)
	}
	for _, tc := range []struct {
		token string
		want  int
	}{{old, http.StatusUnauthorized}, {tok, http.StatusOK}} {
		req, _ := http.NewRequest(http.MethodPost, "http://"+srv.TCPAddr().String()+"/atgt.v1.AdminService/Status", strings.NewReader("{}"))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tc.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("token (old %v): HTTP %d, want %d", tc.token == old, resp.StatusCode, tc.want)
		}
	}
}
