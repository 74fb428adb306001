package backend

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// fakeDevice is a blockDevice over a regular file whose "device size" the test
// sets (a fake BLKGETSIZE64), polled every 5 ms: the size watch at unit level,
// on any machine.
func fakeDevice(t *testing.T, size int64) (*blockDevice, *os.File, *atomic.Int64) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "dev.img")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	b, err := newFDBackend(f, path, size, false, punchHole)
	if err != nil {
		t.Fatal(err)
	}
	d := &blockDevice{fdBackend: b, blockSize: 512}
	d.watchSize()
	var devSize atomic.Int64
	devSize.Store(size)
	d.watch.query = func(int) (int64, error) { return devSize.Load(), nil }
	d.watch.every = 5 * time.Millisecond
	t.Cleanup(func() { d.Close() })
	// A second descriptor for the test to change the "device" with.
	g, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	return d, g, &devSize
}

// waitSize waits for a size on sizes (OnResize's reports).
func waitSize(t *testing.T, sizes <-chan int64, want int64) {
	t.Helper()
	select {
	case got := <-sizes:
		if got != want {
			t.Fatalf("OnResize(%d), want %d", got, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("no OnResize(%d) within 5 s", want)
	}
}

// TestBlockDeviceShrinkFake: a block device that shrank while served fails reads
// past its new end (never zeros with GOOD), notices the new size at once and
// reports it through OnResize; a grow is noticed by the poll; a device whose size
// became 0 is gone (ENXIO), its last size kept.
func TestBlockDeviceShrinkFake(t *testing.T) {
	const size = 1 << 20
	d, g, devSize := fakeDevice(t, size)
	sizes := make(chan int64, 8)
	d.OnResize(func(s int64) { sizes <- s })
	if _, err := g.WriteAt(bytes.Repeat([]byte{0xab}, size), 0); err != nil {
		t.Fatal(err)
	}

	// Shrink to 512 KiB behind the backend's back.
	if err := g.Truncate(size / 2); err != nil {
		t.Fatal(err)
	}
	devSize.Store(size / 2)
	p := make([]byte, 4096)
	if _, err := d.ReadAt(p, 3*size/4); !errors.Is(err, ErrOutOfRange) {
		t.Fatalf("ReadAt past the new end: %v, want ErrOutOfRange", err)
	}
	if d.Size() != size/2 {
		t.Fatalf("Size %d after the read met the end, want %d", d.Size(), size/2)
	}
	waitSize(t, sizes, size/2)
	// Within the new size reads go on.
	if _, err := d.ReadAt(p, 0); err != nil || p[0] != 0xab {
		t.Fatalf("ReadAt within the new size: %v, %#x", err, p[0])
	}

	// A grow (the device extended) is noticed by the poll; the new part is read.
	if err := g.Truncate(2 * size); err != nil {
		t.Fatal(err)
	}
	devSize.Store(2 * size)
	waitSize(t, sizes, 2*size)
	if d.Size() != 2*size {
		t.Fatalf("Size %d after grow, want %d", d.Size(), 2*size)
	}

	// A shrink met by a vectored read (merged READs), and by an O_DIRECT-style
	// aligned read, fails the same way.
	if err := g.Truncate(size); err != nil {
		t.Fatal(err)
	}
	devSize.Store(size)
	if err := d.ReadVec([][]byte{make([]byte, 4096), make([]byte, 4096)}, 3*size/2); !errors.Is(err, ErrOutOfRange) {
		t.Fatalf("ReadVec past the new end: %v, want ErrOutOfRange", err)
	}
	waitSize(t, sizes, size)
	if err := d.readAligned(make([]byte, 4096), size); !errors.Is(err, ErrOutOfRange) {
		t.Fatalf("readAligned past the end: %v, want ErrOutOfRange", err)
	}

	// Size 0: the device is gone; IO says so and the size is kept.
	if err := g.Truncate(0); err != nil {
		t.Fatal(err)
	}
	devSize.Store(0)
	if _, err := d.ReadAt(p, 0); !errors.Is(err, unix.ENXIO) {
		t.Fatalf("ReadAt on a vanished device: %v, want ENXIO", err)
	}
	if d.Size() != size {
		t.Fatalf("Size %d after the device vanished, want the last one %d", d.Size(), size)
	}
	select {
	case s := <-sizes:
		t.Fatalf("a vanished device reported as OnResize(%d)", s)
	case <-time.After(50 * time.Millisecond):
	}
}

// shrinkableLoop attaches a loop device to a fresh file of size bytes and returns
// the device and the file; it detaches it at test end. It fails (never skips)
// where loop devices cannot be used: the machine the project tests on is root.
func shrinkableLoop(t *testing.T, size int64) (dev, img string) {
	t.Helper()
	img = filepath.Join(t.TempDir(), "loop.img")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, size); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("losetup", "-f", "--show", img).CombinedOutput()
	if err != nil {
		t.Fatalf("losetup -f --show (needs root and /dev/loop-control): %v: %s", err, out)
	}
	dev = strings.TrimSpace(string(out))
	t.Cleanup(func() {
		if out, err := exec.Command("losetup", "-d", dev).CombinedOutput(); err != nil {
			t.Errorf("losetup -d %s: %v: %s", dev, err, out)
		}
	})
	return dev, img
}

// resizeLoop changes the loop device's backing file to size bytes and tells the
// kernel (losetup -c), as lvreduce or lvextend change an LV under atgt.
func resizeLoop(t *testing.T, dev, img string, size int64) {
	t.Helper()
	if err := os.Truncate(img, size); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("losetup", "-c", dev).CombinedOutput(); err != nil {
		t.Fatalf("losetup -c %s: %v: %s", dev, err, out)
	}
}

// TestBlockDeviceShrinkLoop: a real block device (loop) shrunk while open: a read
// past its new end fails instead of reading zeros, a write there fails as past
// the end (not as ENOSPC, which a thin LU would report as out of space), the new
// size reaches OnResize (the LUN's CAPACITY DATA HAS CHANGED), and a grow is
// noticed by the poll.
func TestBlockDeviceShrinkLoop(t *testing.T) {
	const size = 8 << 20
	dev, img := shrinkableLoop(t, size)
	b, err := Open(Options{Path: dev})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	data := bytes.Repeat([]byte{0x5a}, 1<<20)
	if err := b.WriteAt(data, 6<<20, false); err != nil {
		t.Fatal(err)
	}
	if err := b.Sync(); err != nil {
		t.Fatal(err)
	}

	resizeLoop(t, dev, img, 4<<20)
	p := make([]byte, 1<<20)
	n, err := b.ReadAt(p, 6<<20)
	if err == nil {
		t.Fatalf("ReadAt past the shrunk device's end: GOOD with %d bytes (zeros: %v)", n, bytes.Equal(p, make([]byte, len(p))))
	}
	if !errors.Is(err, ErrOutOfRange) {
		t.Fatalf("ReadAt past the shrunk device's end: %v, want ErrOutOfRange", err)
	}
	if b.Size() != 4<<20 {
		t.Fatalf("Size %d, want %d", b.Size(), 4<<20)
	}
	if _, err := b.ReadAt(p, 0); err != nil {
		t.Fatalf("ReadAt within the new size: %v", err)
	}
	w, ok := b.(SizeWatcher)
	if !ok {
		t.Fatal("a block device backend is not a SizeWatcher")
	}
	sizes := make(chan int64, 8)
	w.OnResize(func(s int64) { sizes <- s })

	// A write that passed the LUN's check before it learnt the new size.
	resizeLoop(t, dev, img, 2<<20)
	err = b.WriteAt(data[:4096], 3<<20, false)
	if !errors.Is(err, ErrOutOfRange) || errors.Is(err, unix.ENOSPC) {
		t.Fatalf("WriteAt past the shrunk device's end: %v, want ErrOutOfRange (not ENOSPC)", err)
	}
	waitSize(t, sizes, 2<<20)

	resizeLoop(t, dev, img, size)
	waitSize(t, sizes, size) // the poll, within blockSizePoll
	if _, err := b.ReadAt(p, 6<<20); err != nil {
		t.Fatalf("ReadAt in the regrown part: %v", err)
	}
}
