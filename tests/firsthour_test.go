package tests

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/atgt/atgt/tests/initiator"
)

// writeFile0600 writes a file of the test with mode 0600 (configs and secrets).
func writeFile0600(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// waitStderr waits up to 10 s for atgtd's stderr to contain s.
func (d *daemon) waitStderr(t *testing.T, s string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(d.stderr.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("atgtd logged no %q within 10 s; stderr:\n%s", s, d.stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRelativeConfigKeepsSecretFile: with a relative -config (as an administrator
// types it, or the default atgt-data/atgt.json), an admin change saves a relative
// CHAP secretFile exactly as written, so that SIGHUP and the next start still find
// the secret (before, the config's directory was prefixed at every save:
// etc/t.secret, then etc/etc/t.secret).
func TestRelativeConfigKeepsSecretFile(t *testing.T) {
	const iqn = "iqn.2026-11.dev.atgt:rel"
	const secret = "RelativeSecret01"
	dir := t.TempDir()
	writeFile0600(t, filepath.Join(dir, "etc", "t.secret"), secret+"\n")
	writeFile0600(t, filepath.Join(dir, "etc", "atgt.json"), `{"portals": ["127.0.0.1:0"], "dataDir": "var",
  "targets": [{"name": "`+iqn+`", "chap": {"user": "host", "secretFile": "t.secret"},
    "luns": [{"id": 0, "path": "t.img", "sizeBytes": "1048576"}]}]}`)
	sock := filepath.Join(dir, "var", "atgtd.sock")
	login := func(d *daemon) {
		t.Helper()
		s, err := initiator.Dial(d.addr, initiator.Options{InitiatorName: "iqn.2026-11.dev.atgt:host", TargetName: iqn,
			Chap: &initiator.Chap{User: "host", Secret: []byte(secret)}, Timeout: 10 * time.Second})
		if err != nil {
			t.Fatalf("CHAP login with the secret file: %v", err)
		}
		s.Close()
	}
	d := startDaemonIn(t, dir, "-config", "etc/atgt.json", "-log-level", "info")
	login(d)
	d.mustCtl(t, sock, "lun", "add", "-target", iqn, "-id", "1", "-path", "u.img", "-size", "1048576")
	saved, err := os.ReadFile(filepath.Join(dir, "etc", "atgt.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(saved), `"secretFile": "t.secret"`) {
		t.Fatalf("the saved config does not keep secretFile as written (\"t.secret\"):\n%s", saved)
	}
	if out := d.mustCtl(t, sock, "config", "show"); !strings.Contains(out, `"t.secret"`) {
		t.Fatalf("config show does not show secretFile as written:\n%s", out)
	}
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	d.waitStderr(t, "SIGHUP: config reloaded")
	if strings.Contains(d.stderr.String(), "not applied") {
		t.Fatalf("SIGHUP after an admin change was refused:\n%s", d.stderr)
	}
	d.stop(t)
	d.stopped = true

	d = startDaemonIn(t, dir, "-config", "etc/atgt.json")
	login(d)
}
