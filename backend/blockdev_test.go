package backend

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// loopDevice attaches a loop device to a fresh sparse file of size bytes
// and detaches it at test end. Without root, /dev/loop-control or losetup
// (util-linux) it fails: a test that skips when its tool is missing hides that
// nothing was tested.
func loopDevice(t *testing.T, size int64) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("loop device test needs root")
	}
	if _, err := os.Stat("/dev/loop-control"); err != nil {
		t.Fatalf("no /dev/loop-control: %v", err)
	}
	losetup, err := exec.LookPath("losetup")
	if err != nil {
		t.Fatal("losetup not installed (util-linux)")
	}
	img := filepath.Join(t.TempDir(), "loop.img")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, size); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(losetup, "-f", "--show", img).CombinedOutput()
	if err != nil {
		t.Fatalf("losetup -f --show failed (no loop devices here?): %v: %s", err, out)
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() {
		if out, err := exec.Command(losetup, "-d", dev).CombinedOutput(); err != nil {
			t.Errorf("losetup -d %s: %v: %s", dev, err, out)
		}
	})
	return dev
}

func TestBlockDevice(t *testing.T) {
	const size = 4 << 20
	dev := loopDevice(t, size)
	open := func(t *testing.T, ro bool) Backend {
		t.Helper()
		b, err := Open(Options{Path: dev, Size: 12345, ReadOnly: ro})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	}
	t.Run("conformance", func(t *testing.T) {
		runConformance(t, func(t *testing.T, want int64) Backend {
			b := open(t, false)
			if b.Size() != want {
				t.Fatalf("device size %d, test wants %d", b.Size(), want)
			}
			// Start each subtest from zeros: the device is shared.
			if err := b.WriteAt(make([]byte, want), 0, false); err != nil {
				t.Fatal(err)
			}
			return b
		})
	})
	t.Run("size and block size", func(t *testing.T) {
		b := open(t, false)
		if b.Size() != size {
			t.Fatalf("Size = %d, want %d (Options.Size must be ignored)", b.Size(), size)
		}
		bs, ok := b.(BlockSizer)
		if !ok || bs.LogicalBlockSize() < 512 {
			t.Fatalf("BlockSizer ok=%v", ok)
		}
		if _, ok := WithCounters(b, new(Counters)).(BlockSizer); !ok {
			t.Fatal("WithCounters hides BlockSizer")
		}
	})
	t.Run("discard", func(t *testing.T) {
		b := open(t, false)
		if err := b.WriteAt(bytes.Repeat([]byte{0xEE}, 1<<20), 0, true); err != nil {
			t.Fatal(err)
		}
		if err := b.Unmap(4096, 64<<10); err != nil {
			t.Fatal(err)
		}
		want := bytes.Repeat([]byte{0xEE}, 1<<20)
		clear(want[4096 : 4096+64<<10])
		mustRead(t, b, 0, want)
		if b.(*blockDevice).noDiscard.Load() {
			t.Log("device rejected BLKDISCARD; zeros were written instead")
		}
	})
	t.Run("read-only", func(t *testing.T) {
		b := open(t, true)
		if err := b.WriteAt([]byte{1}, 0, false); !errors.Is(err, ErrReadOnly) {
			t.Fatalf("write err = %v", err)
		}
		if err := b.Unmap(0, 4096); !errors.Is(err, ErrReadOnly) {
			t.Fatalf("unmap err = %v", err)
		}
		mustRead(t, b, 4096, make([]byte, 512)) // discarded above
	})
}
