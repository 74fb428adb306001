package tests

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestQemuImgSubBlockHoles exports a sparse image whose holes are smaller than
// the LU's 4096-byte blocks (it lives on an ext4 with 1 KiB blocks, as an
// imported image may) and copies it with qemu-img, which trusts GET LBA STATUS:
// a deallocated block of an LBPRZ=1 LU is zeros to it, and it skips the block.
// A block that is partly hole, partly data must be reported mapped, or the
// copy silently loses its data (interop review 1). qemu-img map must show
// such blocks as data, and the copy must equal the file.
func TestQemuImgSubBlockHoles(t *testing.T) {
	qemu := requireTool(t, "qemu-img", "qemu-utils qemu-block-extra")
	mkfs := requireTool(t, "mkfs.ext4", "e2fsprogs")
	mount := requireTool(t, "mount", "util-linux")
	umount := requireTool(t, "umount", "util-linux")
	if os.Geteuid() != 0 {
		t.Fatal("this test mounts a loop file system: run it as root")
	}
	const (
		bs   = 4096
		size = 16 << 20
	)
	dir := t.TempDir()
	fsImg, mnt := filepath.Join(dir, "fs.img"), filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	makeSparse(t, fsImg, 64<<20, 0o644)
	if out, err := runTool(t, time.Minute, mkfs, "-q", "-F", "-b", "1024", fsImg); err != nil {
		t.Fatalf("mkfs.ext4: %v\n%s", err, out)
	}
	if out, err := runTool(t, time.Minute, mount, "-o", "loop", fsImg, mnt); err != nil {
		t.Fatalf("mount -o loop: %v\n%s", err, out)
	}
	// Registered before the daemon starts, so it runs after the daemon stopped.
	t.Cleanup(func() {
		if out, err := runTool(t, time.Minute, umount, mnt); err != nil {
			t.Errorf("umount: %v\n%s", err, out)
		}
	})

	// The image: block 0 has a 1 KiB hole then 3 KiB of data; block 1 is data;
	// block 2 a whole hole; block 3 2 KiB of data then a hole; block 4 a hole
	// with 1 KiB of data in its middle; the rest a hole.
	lunPath := filepath.Join(mnt, "lun.img")
	want := make([]byte, size)
	fill := func(from, to int) {
		for i := from; i < to; i++ {
			want[i] = byte(0xA0 + i%13)
		}
	}
	fill(1024, 2*bs)
	fill(3*bs, 3*bs+2048)
	fill(4*bs+1024, 4*bs+2048)
	f, err := os.OpenFile(lunPath, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range [][2]int{{1024, 2 * bs}, {3 * bs, 3*bs + 2048}, {4*bs + 1024, 4*bs + 2048}} {
		if _, err := f.WriteAt(want[r[0]:r[1]], int64(r[0])); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	// The test is only worth something if the file system made the sub-block
	// holes: offset 0 and 3*bs+2048 must be holes.
	for _, off := range []int64{0, 3*bs + 2048, 4 * bs} {
		data, err := unix.Seek(int(f.Fd()), off, unix.SEEK_DATA)
		if err != nil && !errors.Is(err, unix.ENXIO) {
			t.Fatal(err)
		}
		if data == off {
			t.Fatalf("offset %d is data, not a hole: the file system did not keep the 1 KiB hole", off)
		}
	}
	f.Close()

	cfg := oneLunConfig(t, 0)
	cfg.Targets[0].Luns[0].Path = lunPath
	cfg.Targets[0].Luns[0].SizeBytes = ""
	cfg.Targets[0].Luns[0].BlockSize = bs
	d := startDaemonConfig(t, cfg)
	url := d.url(defaultIQN, testLUN)

	out, err := runTool(t, time.Minute, qemu, "map", "--output=json", url)
	if err != nil {
		t.Fatalf("qemu-img map: %v\n%s", err, out)
	}
	t.Logf("qemu-img map:\n%s", out)
	var extents []struct {
		Start  int64 `json:"start"`
		Length int64 `json:"length"`
		Data   bool  `json:"data"`
		Zero   bool  `json:"zero"`
	}
	if err := json.Unmarshal([]byte(out), &extents); err != nil {
		t.Fatalf("qemu-img map output: %v", err)
	}
	dataAt := func(off int64) (bool, bool) {
		for _, e := range extents {
			if e.Start <= off && off < e.Start+e.Length {
				return e.Data, true
			}
		}
		return false, false
	}
	for _, c := range []struct {
		block int64
		data  bool
	}{{0, true}, {1, true}, {2, false}, {3, true}, {4, true}, {5, false}} {
		got, ok := dataAt(c.block * bs)
		if !ok || got != c.data {
			t.Errorf("qemu-img map: block %d data=%v (listed %v), want data=%v", c.block, got, ok, c.data)
		}
	}

	copyPath := filepath.Join(dir, "copy.raw")
	if out, err := runTool(t, 2*time.Minute, qemu, "convert", "-O", "raw", url, copyPath); err != nil {
		t.Fatalf("qemu-img convert: %v\n%s", err, out)
	}
	got, err := os.ReadFile(copyPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != size {
		t.Fatalf("copy has %d bytes, want %d", len(got), size)
	}
	if !bytes.Equal(got, want) {
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("the copy differs from the image at byte %d (block %d): %#x, want %#x", i, i/bs, got[i], want[i])
			}
		}
	}
}
