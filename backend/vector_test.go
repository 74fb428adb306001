package backend

import (
	"bytes"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestWriteVec: buffers land back to back, also when the kernel writes short (in
// the middle of a buffer or exactly at a boundary), with more than IOV_MAX buffers,
// with O_DIRECT, and a range past the end is refused before anything is written.
func TestWriteVec(t *testing.T) {
	short := func(max int) func(int, [][]byte, int64) (int, error) { return shortIO(max, unix.Pwritev) }
	tests := []struct {
		name    string
		n, size int // buffers and bytes each
		pwritev func(int, [][]byte, int64) (int, error)
		direct  bool
	}{
		{"one call", 8, 4096, nil, false},
		{"short mid-buffer", 5, 1000, short(1500), false},
		{"short at boundaries", 6, 512, short(1024), false},
		{"more than IOV_MAX", 1500, 512, nil, false},
		{"O_DIRECT", 4, 4096, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "v.img")
			var b Backend
			if tt.direct {
				var err error
				b, err = Open(Options{Path: path, Size: 4 << 20, Create: true, Direct: true})
				if err != nil && strings.Contains(err.Error(), "O_DIRECT refused") {
					needFSProperty(t, path, "O_DIRECT", err)
				}
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { b.Close() })
			} else {
				b = openPath(t, path, 4<<20)
			}
			if tt.pwritev != nil {
				b.(*fdBackend).pwritev = tt.pwritev
			}
			var bufs [][]byte
			var want []byte
			for i := 0; i < tt.n; i++ {
				p := bytes.Repeat([]byte{byte(i*13 + 1)}, tt.size)
				bufs = append(bufs, p)
				want = append(want, p...)
			}
			const off = 8192
			if err := b.(VectorWriter).WriteVec(bufs, off); err != nil {
				t.Fatal(err)
			}
			got := make([]byte, len(want))
			if _, err := b.ReadAt(got, off); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatal("data read back differs")
			}
			if err := b.(VectorWriter).WriteVec([][]byte{make([]byte, 4096)}, 4<<20-512); !errors.Is(err, ErrOutOfRange) {
				t.Fatalf("write past the end: %v", err)
			}
		})
	}
}

// TestReadVec: buffers fill back to back, also through short reads and past the end
// of a file shorter than its size (zeros), and a range past the size is refused.
func TestReadVec(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.img")
	b := openPath(t, path, 1<<20).(*fdBackend)
	want := make([]byte, 64<<10)
	for i := range want {
		want[i] = byte(i*7 + i>>9)
	}
	if err := b.WriteAt(want, 0, false); err != nil {
		t.Fatal(err)
	}
	// A file truncated behind our back: the tail of the range reads as zeros.
	if err := unix.Truncate(path, 48<<10); err != nil {
		t.Fatal(err)
	}
	clear(want[48<<10:])
	for _, limit := range []int{0, 1000, 512} {
		if limit > 0 {
			b.preadv = shortIO(limit, unix.Preadv)
		}
		bufs := make([][]byte, 16)
		for i := range bufs {
			bufs[i] = bytes.Repeat([]byte{0xAA}, 4096)
		}
		if err := b.ReadVec(bufs, 0); err != nil {
			t.Fatalf("limit %d: %v", limit, err)
		}
		if got := bytes.Join(bufs, nil); !bytes.Equal(got, want) {
			t.Fatalf("limit %d: data differs", limit)
		}
	}
	if err := b.ReadVec([][]byte{make([]byte, 4096)}, 1<<20-512); !errors.Is(err, ErrOutOfRange) {
		t.Fatalf("read past the end: %v", err)
	}
}

// shortIO wraps a vectored call so that it moves at most max bytes per call, as a
// kernel may.
func shortIO(max int, sys func(int, [][]byte, int64) (int, error)) func(int, [][]byte, int64) (int, error) {
	return func(fd int, iovs [][]byte, off int64) (int, error) {
		var take [][]byte
		left := max
		for _, v := range iovs {
			if left == 0 {
				break
			}
			n := min(left, len(v))
			take = append(take, v[:n])
			left -= n
		}
		return sys(fd, take, off)
	}
}

// vecWrapper is a wrapper with a vectored read of its own and no vectored write.
type vecWrapper struct{ Backend }

func (w vecWrapper) ReadVec(bufs [][]byte, off int64) error {
	return w.Backend.(VectorReader).ReadVec(bufs, off)
}

// TestKeepOptionalKeepsVectors: KeepOptional keeps the wrapper's vectored read, and
// gives its missing vectored write as ErrNoVector, beside the inner Mapper.
func TestKeepOptionalKeepsVectors(t *testing.T) {
	b, err := Open(Options{Path: filepath.Join(t.TempDir(), "v.img"), Size: 1 << 20, Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	w := KeepOptional(b, vecWrapper{b})
	if _, ok := w.(Mapper); !ok {
		t.Fatal("Mapper hidden")
	}
	vr, ok := w.(VectorReader)
	if !ok {
		t.Fatal("the wrapper's ReadVec hidden")
	}
	if err := vr.ReadVec([][]byte{make([]byte, 512)}, 0); err != nil {
		t.Fatal(err)
	}
	vw, ok := w.(VectorWriter)
	if !ok || !errors.Is(vw.WriteVec([][]byte{make([]byte, 512)}, 0), ErrNoVector) {
		t.Fatal("a missing WriteVec is not ErrNoVector")
	}
}
