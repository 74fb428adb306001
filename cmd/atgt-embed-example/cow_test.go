package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/atgt/atgt/backend"
	pb "github.com/atgt/atgt/messages/atgtv1"
)

// baseFile writes n bytes of a pattern (byte i is i*7+1) and returns its path and
// contents.
func baseFile(t *testing.T, n int) (string, []byte) {
	t.Helper()
	data := make([]byte, n)
	for i := range data {
		data[i] = byte(i*7 + 1)
	}
	path := filepath.Join(t.TempDir(), "base.img")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path, data
}

func open(t *testing.T, l *pb.Lun) backend.Backend {
	t.Helper()
	b, err := newCOW(l)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func read(t *testing.T, b backend.Backend, off, n int64) []byte {
	t.Helper()
	p := make([]byte, n)
	if _, err := b.ReadAt(p, off); err != nil {
		t.Fatalf("read %d@%d: %v", n, off, err)
	}
	return p
}

// TestCOWOverlay: reads fall through to the base until written; partial, unaligned
// and whole-chunk writes and unmaps read back as a plain disk would; the base file is
// never changed.
func TestCOWOverlay(t *testing.T) {
	const size = 5*chunkSize + 100 // the last chunk is partial
	path, want := baseFile(t, size)
	b := open(t, &pb.Lun{Path: path})
	if b.Size() != size {
		t.Fatalf("size %d, want the base's %d", b.Size(), size)
	}
	if got := read(t, b, 0, size); !bytes.Equal(got, want) {
		t.Fatal("an unwritten overlay does not read as the base")
	}
	model := append([]byte(nil), want...)
	write := func(off int64, p []byte) {
		t.Helper()
		if err := b.WriteAt(p, off, true); err != nil {
			t.Fatalf("write %d@%d: %v", len(p), off, err)
		}
		copy(model[off:], p)
	}
	unmap := func(off, n int64) {
		t.Helper()
		if err := b.Unmap(off, n); err != nil {
			t.Fatalf("unmap %d@%d: %v", n, off, err)
		}
		clear(model[off : off+n])
	}
	write(10, bytes.Repeat([]byte{0xAA}, 20))                 // inside one chunk
	write(chunkSize-5, bytes.Repeat([]byte{0xBB}, 10))        // across a chunk boundary
	write(2*chunkSize, bytes.Repeat([]byte{0xCC}, chunkSize)) // one whole chunk
	unmap(3*chunkSize, chunkSize)                             // a whole chunk: zero marker
	write(3*chunkSize+100, []byte{1, 2, 3})                   // then a write into it
	unmap(4*chunkSize+50, 60)                                 // part of a chunk
	write(size-3, []byte{9, 9, 9})                            // the partial last chunk
	if got := read(t, b, 0, size); !bytes.Equal(got, model) {
		t.Fatal("the overlay does not read back what was written over the base")
	}
	for _, r := range [][2]int64{{5, 30}, {chunkSize - 7, 20}, {3*chunkSize + 99, 5}, {size - 10, 10}} {
		if got := read(t, b, r[0], r[1]); !bytes.Equal(got, model[r[0]:r[0]+r[1]]) {
			t.Fatalf("read %d@%d differs", r[1], r[0])
		}
	}
	if err := b.Sync(); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, want) {
		t.Fatal("the base file changed")
	}
}

// TestCOWLargerThanBase: a LUN larger than its base reads zeros past the base's end
// until written, and refuses IO past its own.
func TestCOWLargerThanBase(t *testing.T) {
	path, want := baseFile(t, chunkSize+10)
	b := open(t, &pb.Lun{Path: path, SizeBytes: 4 * chunkSize})
	got := read(t, b, chunkSize, 3*chunkSize)
	if !bytes.Equal(got[:10], want[chunkSize:]) || !bytes.Equal(got[10:], make([]byte, 3*chunkSize-10)) {
		t.Fatal("past the base's end does not read as zeros")
	}
	if err := b.WriteAt([]byte{7}, 3*chunkSize, false); err != nil {
		t.Fatal(err)
	}
	if got := read(t, b, 3*chunkSize, 2); !bytes.Equal(got, []byte{7, 0}) {
		t.Fatalf("written past the base's end: %v", got)
	}
	if _, err := b.ReadAt(make([]byte, 2), 4*chunkSize-1); !errors.Is(err, backend.ErrOutOfRange) {
		t.Fatalf("read past the end: %v", err)
	}
	if err := b.WriteAt([]byte{1}, -1, false); !errors.Is(err, backend.ErrOutOfRange) {
		t.Fatalf("write before the start: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.ReadAt(make([]byte, 1), 0); !errors.Is(err, backend.ErrClosed) {
		t.Fatalf("read after close: %v", err)
	}
}

// TestCOWRefuses: no path, a missing base and a directory are refused.
func TestCOWRefuses(t *testing.T) {
	for _, l := range []*pb.Lun{{}, {Path: filepath.Join(t.TempDir(), "missing")}, {Path: t.TempDir()}} {
		if b, err := newCOW(l); err == nil {
			b.Close()
			t.Errorf("newCOW(%q) succeeded", l.Path)
		}
	}
}

// TestCOWConcurrent: workers writing and reading their own ranges at once each read
// back their own data (run with -race).
func TestCOWConcurrent(t *testing.T) {
	path, _ := baseFile(t, 16*chunkSize)
	b := open(t, &pb.Lun{Path: path})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			off := int64(w)*2*chunkSize + 100 // unaligned, across chunks
			p := bytes.Repeat([]byte{byte(w + 1)}, chunkSize)
			for range 50 {
				if err := b.WriteAt(p, off, false); err != nil {
					t.Error(err)
					return
				}
				got := make([]byte, len(p))
				if _, err := b.ReadAt(got, off); err != nil || !bytes.Equal(got, p) {
					t.Errorf("worker %d read back %v", w, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}
