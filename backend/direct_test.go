package backend

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// openDirect opens path with O_DIRECT; it fails the test, naming the file
// system, when that refuses O_DIRECT (for example a tmpfs before Linux 6.6).
func openDirect(t *testing.T, path string, size int64) *fdBackend {
	t.Helper()
	b, err := Open(Options{Path: path, Size: size, Create: true, Direct: true})
	if err != nil && strings.Contains(err.Error(), "O_DIRECT refused") {
		needFSProperty(t, path, "O_DIRECT", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b.(*fdBackend)
}

// openTempDirect is the conformance opener for an O_DIRECT file.
func openTempDirect(t *testing.T, size int64) Backend {
	t.Helper()
	return openDirect(t, filepath.Join(t.TempDir(), "direct.img"), size)
}

func TestDirectUnalignedMatchesModel(t *testing.T) {
	const size = 4 << 20
	path := filepath.Join(t.TempDir(), "d.img")
	b := openDirect(t, path, size)
	if b.direct == nil {
		t.Fatal("Direct option did not enable O_DIRECT transfers")
	}
	model := make([]byte, size)
	tests := []struct {
		name   string
		off, n int64
		stable bool
	}{
		{"one 512 block", 512, 512, false},
		{"aligned 4k", 8192, 4096, true},
		{"odd head and tail", 4095, 4098, false},
		{"inside one block", 10000, 7, true},
		{"larger than a chunk", 3, directChunk + 5000, false},
		{"last byte", size - 1, 1, true},
		{"whole tail block", size - 4096, 4096, false},
		{"empty", 777, 0, false},
	}
	rng := rand.New(rand.NewPCG(4, 4))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := make([]byte, tt.n)
			for i := range p {
				p[i] = byte(rng.IntN(255) + 1)
			}
			if err := b.WriteAt(p, tt.off, tt.stable); err != nil {
				t.Fatal(err)
			}
			copy(model[tt.off:], p)
			// Read back an unaligned window around the write.
			lo, hi := max(0, tt.off-100), min(size, tt.off+tt.n+100)
			mustRead(t, b, lo, model[lo:hi])
		})
	}
	// The bytes are on the file itself, seen through a cached descriptor.
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, model) {
		t.Fatal("file content differs from the model")
	}
}

func TestDirectTransfersAligned(t *testing.T) {
	b := openDirect(t, filepath.Join(t.TempDir(), "a.img"), 1<<20)
	var flags []int
	b.pwritev2 = func(fd int, iovs [][]byte, off int64, fl int) (int, error) {
		p := iovs[0]
		if !isAligned(p, b.direct.memAlign) || off%b.direct.align != 0 || int64(len(p))%b.direct.align != 0 {
			t.Errorf("unaligned transfer: addr aligned %v, off %d, len %d", isAligned(p, b.direct.memAlign), off, len(p))
		}
		flags = append(flags, fl)
		return unix.Pwritev2(fd, iovs, off, fl)
	}
	syncs := 0
	b.datasync = func(fd int) error { syncs++; return unix.Fdatasync(fd) }
	// A deliberately misaligned source slice at an odd offset.
	src := make([]byte, 3001)[1:]
	for i := range src {
		src[i] = byte(i)
	}
	if err := b.WriteAt(src, 12345, true); err != nil {
		t.Fatal(err)
	}
	if len(flags) == 0 || flags[0]&unix.RWF_DSYNC == 0 {
		t.Fatalf("stable O_DIRECT write flags = %v, want RWF_DSYNC", flags)
	}
	if syncs != 0 {
		t.Fatalf("stable write called fdatasync %d times", syncs)
	}
	if err := b.Sync(); err != nil || syncs != 1 {
		t.Fatalf("Sync = %v with %d fdatasync calls, want 1", err, syncs)
	}
	dst := make([]byte, 3001)[1:]
	if _, err := b.ReadAt(dst, 12345); err != nil || !bytes.Equal(dst, src) {
		t.Fatalf("read back err %v, equal %v", err, bytes.Equal(dst, src))
	}
}

func TestDirectOpenErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		size    int64
		wantErr string
	}{
		{"size not a multiple of the alignment", 1000, "multiple of"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, "e.img")
			_, err := Open(Options{Path: path, Size: tt.size, Create: true, Direct: true})
			if err != nil && strings.Contains(err.Error(), "O_DIRECT refused") {
				needFSProperty(t, path, "O_DIRECT", err)
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), path) {
				t.Fatalf("Open err = %v, want one naming %s and %q", err, path, tt.wantErr)
			}
		})
	}
}

func TestDirectRefusedNamesPath(t *testing.T) {
	err := directOpenErr("/some/disk.img", &os.PathError{Op: "open", Path: "/some/disk.img", Err: unix.EINVAL})
	if !errors.Is(err, unix.EINVAL) || !strings.Contains(err.Error(), "/some/disk.img") ||
		!strings.Contains(err.Error(), "O_DIRECT refused") {
		t.Fatalf("directOpenErr = %v", err)
	}
}
