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
