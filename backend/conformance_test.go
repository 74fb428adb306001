package backend

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
)

// opener makes a fresh backend of the given size for one test.
type opener func(t *testing.T, size int64) Backend

// openTempFile opens a sparse file backend in t.TempDir.
func openTempFile(t *testing.T, size int64) Backend {
	t.Helper()
	b, err := Open(Options{Path: filepath.Join(t.TempDir(), "disk.img"), Size: size, Create: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// implementations is the table every conformance test runs over.
var implementations = []struct {
	name string
	open opener
}{
	{"file", openTempFile},
	{"file+direct", openTempDirect},
	{"memory", func(t *testing.T, size int64) Backend { return NewMemory(size) }},
	{"file+counters", func(t *testing.T, size int64) Backend {
		return WithCounters(openTempFile(t, size), new(Counters))
	}},
	{"memory+nofaults", func(t *testing.T, size int64) Backend {
		return WithFaults(NewMemory(size), Faults())
	}},
}

func TestConformance(t *testing.T) {
	for _, impl := range implementations {
		t.Run(impl.name, func(t *testing.T) { runConformance(t, impl.open) })
	}
}

// runConformance checks the behaviour every Backend must share.
func runConformance(t *testing.T, open opener) {
	const size = 4 << 20
	t.Run("size", func(t *testing.T) {
		if got := open(t, size).Size(); got != size {
			t.Fatalf("Size = %d, want %d", got, size)
		}
	})
	t.Run("reads zeros", func(t *testing.T) {
		b := open(t, size)
		for _, r := range []struct{ off, n int64 }{{0, 512}, {1, 4095}, {size - 7, 7}, {size / 2, 65536}, {size, 0}} {
			p := bytes.Repeat([]byte{0xAA}, int(r.n))
			n, err := b.ReadAt(p, r.off)
			if err != nil || n != int(r.n) {
				t.Fatalf("ReadAt(%d, %d) = %d, %v", r.n, r.off, n, err)
			}
			if !isZero(p) {
				t.Fatalf("ReadAt(%d, %d) not zeros", r.n, r.off)
			}
		}
	})
	t.Run("out of range", func(t *testing.T) {
		b := open(t, size)
		for _, r := range []struct{ off, n int64 }{{-1, 1}, {size, 1}, {size - 1, 2}, {1 << 62, 1}} {
			if _, err := b.ReadAt(make([]byte, r.n), r.off); !errors.Is(err, ErrOutOfRange) {
				t.Errorf("ReadAt(%d, %d) err = %v, want ErrOutOfRange", r.n, r.off, err)
			}
			if err := b.WriteAt(make([]byte, r.n), r.off, false); !errors.Is(err, ErrOutOfRange) {
				t.Errorf("WriteAt(%d, %d) err = %v, want ErrOutOfRange", r.n, r.off, err)
			}
			if err := b.Unmap(r.off, r.n); !errors.Is(err, ErrOutOfRange) {
				t.Errorf("Unmap(%d, %d) err = %v, want ErrOutOfRange", r.off, r.n, err)
			}
		}
		if err := b.Unmap(0, -1); !errors.Is(err, ErrOutOfRange) {
			t.Errorf("Unmap negative length err = %v", err)
		}
	})
	t.Run("concurrent unaligned write read", func(t *testing.T) {
		b := open(t, size)
		testConcurrentIO(t, b)
	})
	t.Run("stable write and sync", func(t *testing.T) {
		b := open(t, size)
		want := []byte("forced unit access")
		if err := b.WriteAt(want, 12345, true); err != nil {
			t.Fatal(err)
		}
		if err := b.WriteAt(want, 777, false); err != nil {
			t.Fatal(err)
		}
		if err := b.Sync(); err != nil {
			t.Fatal(err)
		}
		for _, off := range []int64{12345, 777} {
			mustRead(t, b, off, want)
		}
	})
	t.Run("unmap reads zeros", func(t *testing.T) {
		b := open(t, size)
		data := bytes.Repeat([]byte{0x5A}, 3<<20)
		if err := b.WriteAt(data, 4096, false); err != nil {
			t.Fatal(err)
		}
		// Unaligned edges must zero exactly the range.
		if err := b.Unmap(4096+100, 2<<20); err != nil {
			t.Fatal(err)
		}
		want := bytes.Clone(data)
		clear(want[100 : 100+2<<20])
		mustRead(t, b, 4096, want)
		if err := b.Unmap(0, 0); err != nil {
			t.Fatalf("empty Unmap: %v", err)
		}
	})
	t.Run("closed", func(t *testing.T) {
		b := open(t, size)
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := b.ReadAt(make([]byte, 1), 0); !errors.Is(err, ErrClosed) {
			t.Errorf("ReadAt after Close err = %v", err)
		}
		if err := b.WriteAt(make([]byte, 1), 0, true); !errors.Is(err, ErrClosed) {
			t.Errorf("WriteAt after Close err = %v", err)
		}
		if err := b.Sync(); !errors.Is(err, ErrClosed) {
			t.Errorf("Sync after Close err = %v", err)
		}
	})
}

// testConcurrentIO has many goroutines write distinct patterns at unaligned
// offsets (some stable) and read them back, while others read elsewhere.
func testConcurrentIO(t *testing.T, b Backend) {
	t.Helper()
	const workers, perWorker = 16, 20
	stride := b.Size() / workers
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			base := int64(w) * stride
			for i := range perWorker {
				n := 1 + rng.IntN(9000)
				off := base + rng.Int64N(stride-int64(n))
				p := make([]byte, n)
				for j := range p {
					p[j] = byte(w*31 + i + j)
				}
				if err := b.WriteAt(p, off, i%3 == 0); err != nil {
					errs <- err
					return
				}
				got := make([]byte, n)
				if _, err := b.ReadAt(got, off); err != nil {
					errs <- err
					return
				}
				if !bytes.Equal(got, p) {
					errs <- fmt.Errorf("worker %d: read back differs at %d+%d", w, off, n)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// mustRead fails the test unless b holds want at off.
func mustRead(t *testing.T, b Backend, off int64, want []byte) {
	t.Helper()
	got := make([]byte, len(want))
	if n, err := b.ReadAt(got, off); err != nil || n != len(want) {
		t.Fatalf("ReadAt(%d, %d) = %d, %v", len(want), off, n, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("ReadAt(%d, %d): data differs", len(want), off)
	}
}

// isZero reports whether p is all zero bytes.
func isZero(p []byte) bool {
	for _, c := range p {
		if c != 0 {
			return false
		}
	}
	return true
}
