package admin_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"connectrpc.com/connect"

	"github.com/atgt/atgt/actors/admin"
	"github.com/atgt/atgt/actors/admin/admintest"
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/atgtv1/atgtv1connect"
)

const testToken = "0123456789abcdef0123456789abcdef-test"

// post sends an AddLun of /etc/shadow to the TCP admin address with the given Host,
// Origin and Authorization ("" leaves a header out), and returns the HTTP status.
func post(t *testing.T, addr, host, origin, auth string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", "http://"+addr+"/atgt.v1.AdminService/AddLun",
		strings.NewReader(`{"target":"iqn.2026-11.dev.atgt:vm1","lun":{"id":9,"path":"/etc/shadow","readOnly":true}}`))
	if host != "" {
		req.Host = host
	}
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(body)
}

// The TCP admin address serves a call only with the token, a loopback Host and no
// foreign Origin: a web page that rebinds its own name to 127.0.0.1 (foreign Host
// and Origin), or a local user without the token, reaches nothing. Before, a POST
// with Host and Origin rebind.attacker.example and no token added /etc/shadow as a
// LUN (200).
func TestTCPNeedsTokenLoopbackHostAndOrigin(t *testing.T) {
	fake := admintest.New(admintest.Sample())
	if _, err := admin.Serve(fake, admin.ServerConfig{TCPAddr: "127.0.0.1:0"}); err == nil || !strings.Contains(err.Error(), "token") {
		t.Fatalf("Serve on TCP without a token: %v, want a refusal", err)
	}
	sock := filepath.Join(t.TempDir(), admin.SocketName)
	srv, err := admin.Serve(fake, admin.ServerConfig{TCPAddr: "127.0.0.1:0", Socket: sock, Token: testToken})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	addr := srv.TCPAddr().String()
	_, port, _ := net.SplitHostPort(addr)
	good := "Bearer " + testToken
	for _, tc := range []struct {
		name, host, origin, auth string
		want                     int
	}{
		{"rebinding, no token", "rebind.attacker.example:" + port, "http://rebind.attacker.example:" + port, "", http.StatusForbidden},
		{"rebinding with the token", "rebind.attacker.example:" + port, "http://rebind.attacker.example:" + port, good, http.StatusForbidden},
		{"foreign origin", "", "http://evil.example", good, http.StatusForbidden},
		{"no token", "", "", "", http.StatusUnauthorized},
		{"wrong token", "", "", "Bearer " + strings.Repeat("0", len(testToken)), http.StatusUnauthorized},
		{"token not bearer", "", "", testToken, http.StatusUnauthorized},
	} {
		if code, body := post(t, addr, tc.host, tc.origin, tc.auth); code != tc.want {
			t.Errorf("%s: status %d (%s), want %d", tc.name, code, body, tc.want)
		}
	}
	if n := len(fake.Requests()); n != 0 {
		t.Fatalf("refused calls reached the service: %d requests", n)
	}
	for _, host := range []string{"", "localhost:" + port, "[::1]:" + port} {
		if code, body := post(t, addr, host, "http://127.0.0.1:8080", good); code == http.StatusUnauthorized || code == http.StatusForbidden {
			t.Errorf("Host %q with the token: status %d (%s)", host, code, body)
		}
	}
	if n := len(fake.Requests()); n != 3 {
		t.Fatalf("%d of 3 good calls reached the service", n)
	}
	// A Connect client sees Unauthenticated without the token; the socket needs none.
	client := atgtv1connect.NewAdminServiceClient(http.DefaultClient, "http://"+addr)
	if _, err := client.Status(context.Background(), connect.NewRequest(&pb.StatusRequest{})); connect.CodeOf(err) != connect.CodeUnauthenticated ||
		!strings.Contains(err.Error(), "token") {
		t.Fatalf("Status over TCP without the token: %v", err)
	}
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
	if _, err := atgtv1connect.NewAdminServiceClient(hc, "http://atgt").Status(context.Background(), connect.NewRequest(&pb.StatusRequest{})); err != nil {
		t.Fatalf("Status on the socket: %v", err)
	}
}

// LoadOrCreateToken makes a random token mode 0600 once and reads the same one
// after; a token file others may read, or a short token, is refused.
func TestLoadOrCreateToken(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", admin.TokenFileName)
	tok, err := admin.LoadOrCreateToken(path)
	if err != nil || len(tok) != 64 {
		t.Fatalf("token %q: %v", tok, err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file %v %v", fi, err)
	}
	if again, err := admin.LoadOrCreateToken(path); err != nil || again != tok {
		t.Fatalf("second load: %q %v", again, err)
	}
	other := filepath.Join(t.TempDir(), "other")
	if _, err := admin.LoadOrCreateToken(other); err != nil {
		t.Fatal(err)
	}
	if again, _ := admin.ReadToken(other); again == tok {
		t.Fatal("two token files got the same token")
	}
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.ReadToken(path); err == nil || !strings.Contains(err.Error(), "chmod 600") || strings.Contains(err.Error(), tok) {
		t.Fatalf("group-readable token: %v", err)
	}
	if err := os.WriteFile(other, []byte("short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.ReadToken(other); err == nil || !strings.Contains(err.Error(), "shorter") {
		t.Fatalf("short token: %v", err)
	}
}
