package admin_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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

// unixClient is an HTTP client whose every request goes to the unix socket at path,
// whatever the URL's host.
func unixClient(path string) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}}
}

// serveFake serves a sample Fake on a socket in a temp dir and returns both.
func serveFake(t *testing.T) (*admintest.Fake, *admin.Server) {
	t.Helper()
	fake := admintest.New(admintest.Sample())
	srv, err := admin.Serve(fake, admin.ServerConfig{Socket: filepath.Join(t.TempDir(), admin.SocketName)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return fake, srv
}

// TestConnectClientOverUnixSocket: the generated client reaches the API through the
// socket, gets its answers, and gets its errors with their codes and messages.
func TestConnectClientOverUnixSocket(t *testing.T) {
	fake, srv := serveFake(t)
	client := atgtv1connect.NewAdminServiceClient(unixClient(srv.SocketPath()), "http://atgt")
	ctx := context.Background()

	luns, err := client.ListLuns(ctx, connect.NewRequest(&pb.ListLunsRequest{Target: "iqn.2026-11.dev.atgt:vm1"}))
	if err != nil {
		t.Fatal(err)
	}
	if got := len(luns.Msg.Luns); got != 2 || luns.Msg.Luns[0].SizeBytes != 10<<30 || luns.Msg.Luns[1].BlockSize != 4096 {
		t.Fatalf("ListLuns = %v, want vm1's two LUNs", luns.Msg.Luns)
	}
	added, err := client.AddLun(ctx, connect.NewRequest(&pb.AddLunRequest{Target: "iqn.2026-11.dev.atgt:vm1",
		Lun: &pb.Lun{Id: 5, Path: "x.img", SizeBytes: 1 << 20}}))
	if err != nil {
		t.Fatal(err)
	}
	if added.Msg.Lun.GetId() != 5 || added.Msg.Lun.GetPath() != "x.img" {
		t.Fatalf("AddLun answered %v", added.Msg)
	}
	reqs := fake.Requests()
	if last, ok := reqs[len(reqs)-1].(*pb.AddLunRequest); !ok || last.Lun.GetSizeBytes() != 1<<20 {
		t.Fatalf("the API got %v, want the AddLunRequest sent", reqs[len(reqs)-1])
	}

	_, err = client.ResizeLun(ctx, connect.NewRequest(&pb.ResizeLunRequest{Target: "iqn.2026-11.dev.atgt:vm1", Id: 9, SizeBytes: 1 << 30}))
	if connect.CodeOf(err) != connect.CodeNotFound || !strings.Contains(err.Error(), "no such LUN") {
		t.Fatalf("ResizeLun of a missing LUN: %v, want not_found: no such LUN", err)
	}
	_, err = client.ResizeLun(ctx, connect.NewRequest(&pb.ResizeLunRequest{Target: "iqn.2026-11.dev.atgt:vm1", Id: 0, SizeBytes: 1 << 20}))
	if connect.CodeOf(err) != connect.CodeFailedPrecondition {
		t.Fatalf("shrink without the flag: %v, want failed_precondition", err)
	}
}

// TestJSONOverHTTP: exactly what `curl --unix-socket atgt-data/atgtd.sock -H
// 'Content-Type: application/json' -d '{}' http://atgt/atgt.v1.AdminService/ListLuns`
// sends gets protobuf JSON back; an error is a JSON object with code and message.
func TestJSONOverHTTP(t *testing.T) {
	_, srv := serveFake(t)
	hc := unixClient(srv.SocketPath())
	post := func(method, body string) (int, []byte) {
		t.Helper()
		resp, err := hc.Post("http://atgt/atgt.v1.AdminService/"+method, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, b
	}

	code, body := post("ListLuns", "{}")
	if code != http.StatusOK {
		t.Fatalf("ListLuns: HTTP %d %s", code, body)
	}
	var luns struct {
		Luns []struct {
			Target    string `json:"target"`
			ID        string `json:"id"`
			Path      string `json:"path"`
			SizeBytes string `json:"sizeBytes"`
		} `json:"luns"`
	}
	if err := json.Unmarshal(body, &luns); err != nil {
		t.Fatalf("ListLuns body %s: %v", body, err)
	}
	if len(luns.Luns) != 3 || luns.Luns[0].SizeBytes != "10737418240" || luns.Luns[2].Path != "vm2-root.img" {
		t.Fatalf("ListLuns body %s, want the three sample LUNs", body)
	}

	code, body = post("RemoveLun", `{"target":"iqn.2026-11.dev.atgt:vm1","id":"7"}`)
	var e struct{ Code, Message string }
	if err := json.Unmarshal(body, &e); err != nil || code != http.StatusNotFound || e.Code != "not_found" || e.Message != "no such LUN" {
		t.Fatalf("RemoveLun of a missing LUN: HTTP %d %s, want 404 not_found \"no such LUN\"", code, body)
	}
	code, body = post("ListLuns", `{"tagret":"x"}`)
	if code != http.StatusBadRequest || !strings.Contains(string(body), "tagret") {
		t.Fatalf("unknown field: HTTP %d %s, want 400 naming the field", code, body)
	}
	if code, body = post("Status", ""); code != http.StatusOK || !strings.Contains(string(body), `"targets":2`) {
		t.Fatalf("Status with an empty body: HTTP %d %s, want 200 with the status", code, body)
	}
}

// failing is an API whose Status fails with a plain error and whose ListTargets
// panics.
type failing struct{ *admintest.Fake }

func (failing) Status(context.Context, *pb.StatusRequest) (*pb.StatusResponse, error) {
	return nil, errors.New("disk on fire")
}

func (failing) ListTargets(context.Context, *pb.ListTargetsRequest) (*pb.ListTargetsResponse, error) {
	panic("bug")
}

// TestPlainErrorIsInternal: an error without a Connect code reaches the client as
// internal with its message; a panic as internal too, and the server goes on.
func TestPlainErrorIsInternal(t *testing.T) {
	srv, err := admin.Serve(failing{admintest.New(admintest.Sample())}, admin.ServerConfig{Socket: filepath.Join(t.TempDir(), "s.sock")})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	client := atgtv1connect.NewAdminServiceClient(unixClient(srv.SocketPath()), "http://atgt")
	_, err = client.Status(context.Background(), connect.NewRequest(&pb.StatusRequest{}))
	var ce *connect.Error
	if !errors.As(err, &ce) || ce.Code() != connect.CodeInternal || ce.Message() != "disk on fire" {
		t.Fatalf("Status: %v, want internal: disk on fire", err)
	}
	_, err = client.ListTargets(context.Background(), connect.NewRequest(&pb.ListTargetsRequest{}))
	if connect.CodeOf(err) != connect.CodeInternal {
		t.Fatalf("ListTargets that panics: %v, want internal", err)
	}
	if _, err := client.ListLuns(context.Background(), connect.NewRequest(&pb.ListLunsRequest{})); err != nil {
		t.Fatalf("after a panic: %v", err)
	}
}

// TestSocketMode: the socket is mode 0600, no temp directory is left beside it, and
// Close removes it.
func TestSocketMode(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, admin.SocketName)
	srv, err := admin.Serve(admintest.New(admintest.Sample()), admin.ServerConfig{Socket: path})
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode %v, want a socket with 0600", fi.Mode())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("data dir holds %v, want only the socket", entries)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("after Close: %v, want the socket removed", err)
	}
}

// TestStaleSocketReplaced: a socket file no process listens on (a dead daemon's) is
// replaced, and the new server answers on it.
func TestStaleSocketReplaced(t *testing.T) {
	path := filepath.Join(t.TempDir(), admin.SocketName)
	old, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	old.SetUnlinkOnClose(false)
	old.Close()
	if _, err := os.Lstat(path); err != nil {
		t.Fatalf("the stale socket should exist: %v", err)
	}
	srv, err := admin.Serve(admintest.New(admintest.Sample()), admin.ServerConfig{Socket: path})
	if err != nil {
		t.Fatalf("Serve over a stale socket: %v", err)
	}
	defer srv.Close()
	client := atgtv1connect.NewAdminServiceClient(unixClient(path), "http://atgt")
	if _, err := client.Status(context.Background(), connect.NewRequest(&pb.StatusRequest{})); err != nil {
		t.Fatal(err)
	}
}

// TestLiveSocketRefused: a second server on the socket of a live one fails, naming
// the socket, and the first one still answers; so does a file that is no socket.
func TestLiveSocketRefused(t *testing.T) {
	_, first := serveFake(t)
	_, err := admin.Serve(admintest.New(admintest.Sample()), admin.ServerConfig{Socket: first.SocketPath()})
	if err == nil || !strings.Contains(err.Error(), "another atgtd is serving") || !strings.Contains(err.Error(), first.SocketPath()) {
		t.Fatalf("second Serve: %v, want a refusal naming %s", err, first.SocketPath())
	}
	client := atgtv1connect.NewAdminServiceClient(unixClient(first.SocketPath()), "http://atgt")
	if _, err := client.Status(context.Background(), connect.NewRequest(&pb.StatusRequest{})); err != nil {
		t.Fatalf("first server after the refused second: %v", err)
	}

	plain := filepath.Join(t.TempDir(), "plain")
	if err := os.WriteFile(plain, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Serve(admintest.New(admintest.Sample()), admin.ServerConfig{Socket: plain}); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Fatalf("Serve over a regular file: %v, want a refusal", err)
	}
	if b, _ := os.ReadFile(plain); string(b) != "keep me" {
		t.Fatal("the regular file was touched")
	}
}

// TestTCP: a loopback address serves; any other is refused, naming it.
func TestTCP(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0", "192.0.2.1:0", "example.com:0", "nonsense"} {
		srv, err := admin.Serve(admintest.New(admintest.Sample()), admin.ServerConfig{TCPAddr: addr, Token: testToken})
		if err == nil {
			srv.Close()
			t.Errorf("Serve on %q: no error, want a refusal", addr)
			continue
		}
		if !strings.Contains(err.Error(), fmt.Sprintf("%q", addr)) {
			t.Errorf("Serve on %q: %v, want the address named", addr, err)
		}
	}
	srv, err := admin.Serve(admintest.New(admintest.Sample()), admin.ServerConfig{TCPAddr: "127.0.0.1:0", Token: testToken})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	client := atgtv1connect.NewAdminServiceClient(http.DefaultClient, "http://"+srv.TCPAddr().String(),
		connect.WithInterceptors(connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
			return func(ctx context.Context, r connect.AnyRequest) (connect.AnyResponse, error) {
				r.Header().Set("Authorization", "Bearer "+testToken)
				return next(ctx, r)
			}
		})))
	st, err := client.Status(context.Background(), connect.NewRequest(&pb.StatusRequest{}))
	if err != nil || st.Msg.Targets != 2 {
		t.Fatalf("Status over TCP: %v %v", st, err)
	}
}

// TestGRPCOverH2C: the socket also serves gRPC, which needs HTTP/2 without TLS.
func TestGRPCOverH2C(t *testing.T) {
	_, srv := serveFake(t)
	var protocols http.Protocols
	protocols.SetUnencryptedHTTP2(true)
	hc := &http.Client{Transport: &http.Transport{
		Protocols: &protocols,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", srv.SocketPath())
		},
	}}
	client := atgtv1connect.NewAdminServiceClient(hc, "http://atgt", connect.WithGRPC())
	st, err := client.Status(context.Background(), connect.NewRequest(&pb.StatusRequest{}))
	if err != nil || st.Msg.Luns != 3 {
		t.Fatalf("Status over gRPC/h2c: %v, %v", st, err)
	}
	_, err = client.RemoveLun(context.Background(), connect.NewRequest(&pb.RemoveLunRequest{Target: "iqn.2026-11.dev.atgt:vm1", Id: 9}))
	if connect.CodeOf(err) != connect.CodeNotFound {
		t.Fatalf("RemoveLun over gRPC: %v, want not_found", err)
	}
}
