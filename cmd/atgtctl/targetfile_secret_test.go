package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTargetFileParseErrorHidesSecret: `atgtctl target add -file T.json` whose file
// is not valid JSON past a CHAP secret must not print the secret in its error (as
// config apply and LoadConfig do not).
func TestTargetFileParseErrorHidesSecret(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "t.json")
	secret := "k7Qm2vXr9pLw4TzN"
	if err := os.WriteFile(f, []byte(`{"name":"iqn.2026-11.dev.atgt:x","chap":{"user":"u","secret":`+secret+`"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := run([]string{"-socket", filepath.Join(dir, "none.sock"), "target", "add", "-file", f}, &out, &errb)
	t.Logf("exit %d stderr %s", code, errb.String())
	if strings.Contains(errb.String(), secret) {
		t.Fatalf("the error shows the CHAP secret: %s", errb.String())
	}
	if code == 0 || !strings.Contains(errb.String(), "not shown") {
		t.Fatalf("exit %d, stderr %q: want the parse error, its text hidden", code, errb.String())
	}
}

// TestTargetFileWorldReadableSecretRefused: a target file that holds a CHAP secret
// and that every user may read is refused, as LoadConfig refuses such a config,
// before anything is sent.
func TestTargetFileWorldReadableSecretRefused(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "t.json")
	body := `{"name":"iqn.2026-11.dev.atgt:x","chap":{"user":"u","secret":"k7Qm2vXr9pLw4TzN"},"luns":[{"id":0,"path":"x.img","sizeBytes":"1048576"}]}`
	if err := os.WriteFile(f, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(f, 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := run([]string{"-socket", filepath.Join(dir, "none.sock"), "target", "add", "-file", f}, &out, &errb)
	if code == 0 || !strings.Contains(errb.String(), "readable by every user") {
		t.Fatalf("exit %d, stderr %q: want the world-readable file holding a secret refused", code, errb.String())
	}
}
