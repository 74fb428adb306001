package backend

import (
	"path/filepath"
	"syscall"
	"testing"
)

// TestMappedStaleAfterShrink: Mapped remembers the last data run; a Resize must
// forget it too, or a shrink (lun resize --shrink) followed by a grow, which
// leaves holes where the run was, has GET LBA STATUS report them mapped.
func TestMappedStaleAfterShrink(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.img")
	b := openShared(t, path, 1<<20)
	if err := b.WriteAt(make([]byte, 1<<20), 0, false); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 1<<20; i += 4096 { // make sure the data is allocated (non-zero pages)
		if err := b.WriteAt([]byte{1}, int64(i), false); err != nil {
			t.Fatal(err)
		}
	}
	if m, n, err := b.Mapped(0, 1<<20); err != nil || !m || n != 1<<20 {
		t.Fatalf("before: mapped=%v run=%d err=%v", m, n, err)
	}
	if err := b.Resize(64 << 10); err != nil {
		t.Fatal(err)
	}
	if err := b.Resize(1 << 20); err != nil {
		t.Fatal(err)
	}
	fresh := openShared(t, path, 0)
	fm, _, _ := fresh.Mapped(512<<10, 4096)
	if fm {
		t.Fatal("a fresh descriptor sees data in the regrown range: the filesystem keeps no holes here")
	}
	m, _, err := b.Mapped(512<<10, 4096)
	if err != nil {
		t.Fatal(err)
	}
	if m != fm {
		t.Errorf("after shrink and grow: Mapped says mapped=%v, a fresh descriptor says %v", m, fm)
	}
}

// TestResizeGrowsThick: a thick file (Preallocate) grown with Resize has its new
// part allocated, as the whole file is at open, so that writes there cannot fail
// for lack of space; a thin one stays sparse (the control).
func TestResizeGrowsThick(t *testing.T) {
	const small, large = 1 << 20, 8 << 20
	for _, pre := range []bool{false, true} {
		path := filepath.Join(t.TempDir(), "g.img")
		b, err := Open(Options{Path: path, Size: small, Create: true, Preallocate: pre})
		if err != nil {
			t.Fatal(err)
		}
		if err := b.(*fdBackend).Resize(large); err != nil {
			t.Fatal(err)
		}
		var st syscall.Stat_t
		if err := syscall.Stat(path, &st); err != nil {
			t.Fatal(err)
		}
		b.Close()
		if st.Size != large {
			t.Fatalf("Preallocate %v: size %d after Resize, want %d", pre, st.Size, large)
		}
		if allocated := st.Blocks*512 >= large; allocated != pre {
			t.Errorf("Preallocate %v: %d of %d bytes allocated after Resize", pre, st.Blocks*512, large)
		}
	}
}

// openShared opens path with a shared store lock, so that the test can open it a
// second time beside the first (an exclusive lock refuses that).
func openShared(t *testing.T, path string, size int64) *fdBackend {
	t.Helper()
	b, err := Open(Options{Path: path, Size: size, Create: true, Shared: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b.(*fdBackend)
}
