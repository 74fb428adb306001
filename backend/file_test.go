package backend

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// allocatedBytes is the space the file really uses (st_blocks * 512).
func allocatedBytes(t *testing.T, path string) int64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Blocks * 512
}

func TestFileCreateSparse(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sparse.img")
	b, err := Open(Options{Path: path, Size: 1 << 30, Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if b.Size() != 1<<30 {
		t.Fatalf("Size = %d", b.Size())
	}
	if got := allocatedBytes(t, path); got > 1<<20 {
		t.Fatalf("new 1 GiB file allocates %d bytes, want sparse", got)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600 (disk images hold data)", fi.Mode().Perm())
	}
}

func TestFileSizing(t *testing.T) {
	tests := []struct {
		name     string
		existing int64 // -1: no file
		opts     Options
		wantSize int64
		wantErr  string
	}{
		{"create", -1, Options{Size: 8192, Create: true}, 8192, ""},
		{"extend", 4096, Options{Size: 8192}, 8192, ""},
		{"never shrinks", 8192, Options{Size: 4096}, 8192, ""},
		{"existing size", 8192, Options{}, 8192, ""},
		{"empty without size", 0, Options{}, 0, "empty"},
		{"read-only cannot extend", 4096, Options{Size: 8192, ReadOnly: true}, 0, "fewer"},
		{"missing without create", -1, Options{Size: 4096}, 0, "no such file"},
		{"create and read-only", -1, Options{Size: 4096, Create: true, ReadOnly: true}, 0, "ReadOnly"},
		{"negative size", 4096, Options{Size: -1}, 0, "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "d.img")
			if tt.existing >= 0 {
				if err := os.WriteFile(path, make([]byte, tt.existing), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			o := tt.opts
			o.Path = path
			b, err := Open(o)
			if tt.wantErr != "" {
				if err == nil {
					b.Close()
					t.Fatalf("Open succeeded, want error containing %q", tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), path) {
					t.Fatalf("Open error %q, want it to name %q and %q", err, path, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			if b.Size() != tt.wantSize {
				t.Fatalf("Size = %d, want %d", b.Size(), tt.wantSize)
			}
		})
	}
}

func TestOpenRefusesOtherKinds(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, path string }{
		{"directory", dir},
		{"fifo", fifo},
		{"character device", "/dev/null"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Open(Options{Path: tt.path, Size: 4096, Create: true})
			if err == nil {
				b.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), tt.path) {
				t.Fatalf("Open error %q, want ErrUnsupported naming %s", err, tt.path)
			}
		})
	}
}

func TestFileReadOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ro.img")
	if err := os.WriteFile(path, bytes.Repeat([]byte{7}, 8192), 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := Open(Options{Path: path, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	mustRead(t, b, 100, bytes.Repeat([]byte{7}, 50))
	for name, err := range map[string]error{
		"write":        b.WriteAt([]byte{1}, 0, false),
		"stable write": b.WriteAt([]byte{1}, 0, true),
		"unmap":        b.Unmap(0, 4096),
	} {
		if !errors.Is(err, ErrReadOnly) {
			t.Errorf("%s err = %v, want ErrReadOnly", name, err)
		}
	}
	mustRead(t, b, 0, bytes.Repeat([]byte{7}, 4096))
}

func TestFileShortReadsZeros(t *testing.T) {
	path := filepath.Join(t.TempDir(), "short.img")
	b := openPath(t, path, 8192)
	if err := b.WriteAt(bytes.Repeat([]byte{9}, 8192), 0, false); err != nil {
		t.Fatal(err)
	}
	// Someone truncates the file behind our back: reads within Size are
	// zeros past the new end, not an error.
	if err := os.Truncate(path, 4096); err != nil {
		t.Fatal(err)
	}
	want := append(bytes.Repeat([]byte{9}, 96), make([]byte, 4000)...)
	mustRead(t, b, 4000, want)
}

func TestFileUnmapFreesBlocks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "punch.img")
	b := openPath(t, path, 16<<20)
	if err := b.WriteAt(bytes.Repeat([]byte{1}, 16<<20), 0, false); err != nil {
		t.Fatal(err)
	}
	if err := b.Sync(); err != nil {
		t.Fatal(err)
	}
	before := allocatedBytes(t, path)
	if err := b.Unmap(1<<20, 8<<20); err != nil {
		t.Fatal(err)
	}
	mustRead(t, b, 1<<20, make([]byte, 8<<20))
	if fb := b.(*fdBackend); fb.noDiscard.Load() {
		needFSProperty(t, path, "FALLOC_FL_PUNCH_HOLE", errors.New("fallocate: EOPNOTSUPP, zeros were written instead"))
	}
	if after := allocatedBytes(t, path); before-after < 7<<20 {
		t.Fatalf("allocated %d -> %d bytes after punching 8 MiB", before, after)
	}
	if b.Size() != 16<<20 {
		t.Fatalf("Size changed to %d", b.Size())
	}
}

func TestFileUnmapFallbackWritesZeros(t *testing.T) {
	b := openPath(t, filepath.Join(t.TempDir(), "nopunch.img"), 4<<20).(*fdBackend)
	b.discard = func(int, int64, int64) error { return unix.EOPNOTSUPP }
	if err := b.WriteAt(bytes.Repeat([]byte{3}, 3<<20), 0, false); err != nil {
		t.Fatal(err)
	}
	if err := b.Unmap(10, (1<<20)+(1<<20)+5); err != nil {
		t.Fatal(err)
	}
	want := bytes.Repeat([]byte{3}, 3<<20)
	clear(want[10 : 10+(2<<20)+5])
	mustRead(t, b, 0, want)
	if !b.noDiscard.Load() {
		t.Fatal("fallback not remembered")
	}
}

func TestFileStickySyncError(t *testing.T) {
	b := openPath(t, filepath.Join(t.TempDir(), "eio.img"), 4096).(*fdBackend)
	calls := 0
	b.datasync = func(int) error {
		calls++
		if calls == 1 {
			return unix.EIO
		}
		return nil // the kernel reports a writeback error only once
	}
	for i := range 3 {
		if err := b.Sync(); !errors.Is(err, syscall.EIO) {
			t.Fatalf("Sync #%d err = %v, want sticky EIO", i+1, err)
		}
	}
	if calls != 1 {
		t.Fatalf("fdatasync called %d times after failing, want 1", calls)
	}
}

func TestFileStableWrite(t *testing.T) {
	tests := []struct {
		name       string
		pwritev2   func(fd int, iovs [][]byte, off int64, flags int) (int, error)
		wantErr    error
		wantSyncs  int
		wantPoison bool
	}{
		{"RWF_DSYNC, no fdatasync", nil, nil, 0, false},
		{"ENOSYS falls back to fdatasync", enosys(unix.ENOSYS), nil, 1, false},
		{"EOPNOTSUPP falls back to fdatasync", enosys(unix.EOPNOTSUPP), nil, 1, false},
		{"EIO fails and poisons Sync", enosys(unix.EIO), syscall.EIO, 0, true},
		{"short writes are continued", func(fd int, iovs [][]byte, off int64, flags int) (int, error) {
			if flags&unix.RWF_DSYNC == 0 {
				return 0, unix.EINVAL
			}
			return unix.Pwritev2(fd, [][]byte{iovs[0][:min(3, len(iovs[0]))]}, off, flags)
		}, nil, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := openPath(t, filepath.Join(t.TempDir(), "s.img"), 1<<20).(*fdBackend)
			if tt.pwritev2 != nil {
				b.pwritev2 = tt.pwritev2
			}
			syncs := 0
			b.datasync = func(fd int) error { syncs++; return unix.Fdatasync(fd) }
			data := []byte("stable data at an odd offset")
			err := b.WriteAt(data, 4097, true)
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("WriteAt err = %v, want %v", err, tt.wantErr)
			}
			if syncs != tt.wantSyncs {
				t.Fatalf("fdatasync calls = %d, want %d", syncs, tt.wantSyncs)
			}
			if err == nil {
				mustRead(t, b, 4097, data)
			}
			if got := b.Sync() != nil; got != tt.wantPoison {
				t.Fatalf("Sync failing = %v, want %v", got, tt.wantPoison)
			}
		})
	}
}

// enosys is a pwritev2 stand-in that always fails with errno.
func enosys(errno unix.Errno) func(int, [][]byte, int64, int) (int, error) {
	return func(int, [][]byte, int64, int) (int, error) { return 0, errno }
}

// openPath creates a file backend at path, closed at test end.
func openPath(t *testing.T, path string, size int64) Backend {
	t.Helper()
	b, err := Open(Options{Path: path, Size: size, Create: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// TestFileResize: a file backend grows (zeros past the old end) and shrinks, and
// reports the new size; IO past the new end fails.
func TestFileResize(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.img")
	b, err := Open(Options{Path: path, Size: 1 << 20, Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.WriteAt([]byte("edge"), 1<<20-4, false); err != nil {
		t.Fatal(err)
	}
	rz := b.(Resizer)
	if err := rz.Resize(2 << 20); err != nil || b.Size() != 2<<20 {
		t.Fatalf("grow: %v, size %d", err, b.Size())
	}
	got := make([]byte, 8)
	if _, err := b.ReadAt(got, 1<<20-4); err != nil || string(got) != "edge\x00\x00\x00\x00" {
		t.Fatalf("read across the old end: %q, %v", got, err)
	}
	if err := rz.Resize(1 << 19); err != nil || b.Size() != 1<<19 {
		t.Fatalf("shrink: %v, size %d", err, b.Size())
	}
	if _, err := b.ReadAt(got, 1<<19); err == nil {
		t.Fatal("read past the new end succeeded")
	}
	if fi, _ := os.Stat(path); fi.Size() != 1<<19 {
		t.Fatalf("file size %d after the shrink", fi.Size())
	}
}
