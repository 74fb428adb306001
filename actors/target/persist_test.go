package target

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestWriteVersioned: each write replaces the file whole and keeps the earlier
// versions, newest as .1, at most versions of them; the file keeps its mode.
func TestWriteVersioned(t *testing.T) {
	path := filepath.Join(t.TempDir(), "atgt.json")
	if err := os.WriteFile(path, []byte("v0"), 0o640); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 5; i++ {
		if err := writeVersioned(path, []byte(fmt.Sprintf("v%d", i)), 3, false); err != nil {
			t.Fatal(err)
		}
	}
	for name, want := range map[string]string{"": "v5", ".1": "v4", ".2": "v3", ".3": "v2"} {
		if b, err := os.ReadFile(path + name); err != nil || string(b) != want {
			t.Fatalf("%s: %q, %v; want %q", path+name, b, err, want)
		}
	}
	if _, err := os.Stat(path + ".4"); !os.IsNotExist(err) {
		t.Fatalf("a fourth earlier version was kept: %v", err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o640 {
		t.Fatalf("mode %04o, want 0640 kept", fi.Mode().Perm())
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".atgt.json.tmp-*"))
	if len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
}

// TestWriteVersionedSymlink: a config file that is a symlink stays one; the file it
// points to gets the new contents (and its versions beside it).
func TestWriteVersionedSymlink(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "managed", "atgt.json")
	if err := os.MkdirAll(filepath.Dir(real), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(real, []byte("v0"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "atgt.json")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	if err := writeVersioned(link, []byte("v1"), 2, false); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the config's symlink was replaced: %v, %v", fi.Mode(), err)
	}
	if b, err := os.ReadFile(real); err != nil || string(b) != "v1" {
		t.Fatalf("the file the link names: %q, %v; want v1", b, err)
	}
	if b, err := os.ReadFile(real + ".1"); err != nil || string(b) != "v0" {
		t.Fatalf("the earlier version beside it: %q, %v; want v0", b, err)
	}
}
