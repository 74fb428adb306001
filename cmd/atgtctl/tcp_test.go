package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/atgt/atgt/actors/admin"
	"github.com/atgt/atgt/actors/admin/admintest"
)

// atgtctl -addr reaches atgtd's TCP admin address with the token of -token-file;
// without a readable token file it fails before calling, naming the file.
func TestTCPAddrWithTokenFile(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, admin.TokenFileName)
	token, err := admin.LoadOrCreateToken(tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	fake := admintest.New(admintest.Sample())
	srv, err := admin.Serve(fake, admin.ServerConfig{TCPAddr: "127.0.0.1:0", Token: token})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ctl := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := run(args, &out, &errb)
		return code, out.String(), errb.String()
	}
	addr := srv.TCPAddr().String()
	if code, out, errs := ctl("-addr", addr, "-token-file", tokenFile, "status"); code != exitOK || !strings.Contains(out, "targets") {
		t.Fatalf("status over TCP: exit %d: %s %s", code, out, errs)
	}
	missing := filepath.Join(dir, "missing.token")
	if code, _, errs := ctl("-addr", addr, "-token-file", missing, "status"); code != exitFail || !strings.Contains(errs, missing) {
		t.Fatalf("missing token file: exit %d: %s", code, errs)
	}
	other := filepath.Join(dir, "other.token")
	if _, err := admin.LoadOrCreateToken(other); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := ctl("-addr", addr, "-token-file", other, "status"); code != exitFail || !strings.Contains(errs, "token") {
		t.Fatalf("wrong token: exit %d: %s", code, errs)
	}
}
