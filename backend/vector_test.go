package backend

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestWriteVec: buffers land back to back, also when the kernel writes short (in
// the middle of a buffer or exactly at a boundary), with more than IOV_MAX buffers,
// with O_DIRECT, and a range past the end is refused before anything is written.
func TestWriteVec(t *testing.T) {
	short := func(max int) func(int, [][]byte, int64) (int, error) {
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
			return unix.Pwritev(fd, take, off)
		}
	}
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
				if b, err = Open(Options{Path: path, Size: 4 << 20, Create: true, Direct: true}); err != nil {
					t.Skipf("O_DIRECT unavailable here: %v", err)
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
