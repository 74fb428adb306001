package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/atgt/atgt/actors/admin"
)

// TestTokenNotSentToWhoeverHoldsThePort: atgtctl -addr must not send atgtd's token,
// or anything made with it, to whatever process listens on the address without
// checking that it is atgtd (any local user may bind a free loopback port while
// atgtd is stopped or restarting): the server proves it knows the token first.
func TestTokenNotSentToWhoeverHoldsThePort(t *testing.T) {
	for _, answer := range []struct {
		name   string
		status int
		body   string
	}{
		{"refuses", http.StatusServiceUnavailable, ""},
		{"fakes a proof", http.StatusOK, `{"nonce":"00","proof":"00"}`},
	} {
		t.Run(answer.name, func(t *testing.T) {
			dir := t.TempDir()
			tokenFile := filepath.Join(dir, admin.TokenFileName)
			token, err := admin.LoadOrCreateToken(tokenFile)
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			var got []string
			squatter := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				mu.Lock()
				got = append(got, r.URL.Path+" "+r.Header.Get("Authorization")+" "+string(b))
				mu.Unlock()
				w.WriteHeader(answer.status)
				io.WriteString(w, answer.body)
			}))
			defer squatter.Close()
			var out, errb bytes.Buffer
			code := run([]string{"-addr", strings.TrimPrefix(squatter.URL, "http://"), "-token-file", tokenFile, "status"}, &out, &errb)
			mu.Lock()
			defer mu.Unlock()
			for _, g := range got {
				if strings.Contains(g, token) || strings.Contains(g, "Bearer") || strings.Contains(g, "ATGT-HMAC") {
					t.Fatalf("a process that is not atgtd received the admin token or a call made with it: %q", g)
				}
			}
			if code == exitOK || !strings.Contains(errb.String(), "did not prove") {
				t.Fatalf("exit %d, stderr %q: want the server's failed proof reported", code, errb.String())
			}
		})
	}
}
