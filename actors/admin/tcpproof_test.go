package admin

import (
	"context"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const proofToken = "0123456789abcdef0123456789abcdef-proof"

// TestProvingTransport: a client that has the server prove it knows the token, then
// signs its calls, is served; a signature with another token, a nonce of another
// token, a stale nonce or a signature for another path is refused.
func TestProvingTransport(t *testing.T) {
	// The guard in front of a handler that answers 200, on a TCP listener.
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	ts := httptest.NewUnstartedServer(tcpGuard(ok, proofToken))
	ts.Config.ConnContext = markTCP
	ts.Start()
	defer ts.Close()
	addr := strings.TrimPrefix(ts.URL, "http://")
	hc := &http.Client{Transport: &ProvingTransport{Addr: addr, Token: proofToken}}
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, ts.URL+"/atgt.v1.AdminService/Status", strings.NewReader("{}"))
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("signed call: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("signed call: HTTP %d", resp.StatusCode)
	}
	status := func(auth string) int {
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/atgt.v1.AdminService/Status", strings.NewReader("{}"))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", auth)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	sign := func(token, nonce, path string) string {
		return hmacScheme + "nonce=" + nonce + ", mac=" + hexMac(token, nonce, path)
	}
	now := time.Now()
	good, _ := newNonce(proofToken, now)
	stale, _ := newNonce(proofToken, now.Add(-nonceLife-time.Minute))
	foreign, _ := newNonce("another-token-another-token-another", now)
	const path = "/atgt.v1.AdminService/Status"
	if code := status(sign(proofToken, good, path)); code != http.StatusOK {
		t.Fatalf("good signature: HTTP %d", code)
	}
	for name, auth := range map[string]string{
		"another token":  sign("another-token-another-token-another", good, path),
		"foreign nonce":  sign(proofToken, foreign, path),
		"stale nonce":    sign(proofToken, stale, path),
		"another path":   sign(proofToken, good, "/atgt.v1.AdminService/AddLun"),
		"tampered nonce": sign(proofToken, "1"+good[1:], path),
	} {
		if code := status(auth); code != http.StatusUnauthorized {
			t.Errorf("%s: HTTP %d, want 401", name, code)
		}
	}
}

// hexMac is the signature of a POST to path with nonce.
func hexMac(token, nonce, path string) string {
	return hex.EncodeToString(mac(token, "atgtctl call", nonce, http.MethodPost, path))
}

// TestRotateToken: each call writes a new token, mode 0600, over the old one, and a
// path that is not a regular file is refused.
func TestRotateToken(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", TokenFileName)
	a, err := RotateToken(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := RotateToken(path)
	if err != nil || a == b {
		t.Fatalf("second rotation: %v, same token %v", err, a == b)
	}
	if got, err := ReadToken(path); err != nil || got != b {
		t.Fatalf("file holds %v (%v), want the newest token", got == b, err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %04o", fi.Mode().Perm())
	}
	if _, err := RotateToken(dir); err == nil || strings.Contains(err.Error(), b) {
		t.Fatalf("a directory as token file: %v", err)
	}
}
