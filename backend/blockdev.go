package backend

import (
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// blockDevice is a backend on a block device (disk, partition, LVM, RAID,
// loop). IO goes through the page cache like files. Unmap is BLKDISCARD;
// partial blocks at its edges are zeroed, and unlike a file hole a
// discarded range is only guaranteed to read as zeros if the device says
// so (loop devices and most thin targets do), so the SCSI layer should not
// promise LBPRZ for block devices.
type blockDevice struct {
	*fdBackend
	blockSize int
	// watch follows the device's size (blocksize.go).
	watch *sizeWatch
}

// Unmap discards the block-aligned middle of the range with BLKDISCARD and
// writes zeros over any partial blocks at its edges, since the device can
// only discard whole logical blocks.
func (d *blockDevice) Unmap(off, length int64) error {
	if err := d.usable(true); err != nil {
		return pathErr("unmap", d.path, err)
	}
	if err := checkRange(off, length, d.size.Load()); err != nil {
		return pathErr("unmap", d.path, err)
	}
	bs := int64(d.blockSize)
	end := off + length
	start, stop := (off+bs-1)/bs*bs, end/bs*bs
	if start >= stop {
		return d.writeZeros(off, length)
	}
	if err := d.writeZeros(off, start-off); err != nil {
		return err
	}
	if err := d.writeZeros(stop, end-stop); err != nil {
		return err
	}
	return d.fdBackend.Unmap(start, stop-start)
}

// LogicalBlockSize is the device's logical block size (BLKSSZGET), the
// smallest unit it can address.
func (d *blockDevice) LogicalBlockSize() int { return d.blockSize }

// openBlockDevice opens a block device; its size comes from BLKGETSIZE64
// and o.Size is ignored. The size is watched (SizeWatcher, blocksize.go).
func openBlockDevice(o Options) (Backend, error) {
	f, err := os.OpenFile(o.Path, openFlags(Options{ReadOnly: o.ReadOnly, Direct: o.Direct}), 0)
	if err != nil {
		if o.Direct {
			return nil, directOpenErr(o.Path, err)
		}
		return nil, pathErr("open", o.Path, unwrapPath(err))
	}
	if err := lockStore(f, o.Path, o.ReadOnly || o.Shared); err != nil {
		f.Close()
		return nil, err
	}
	d, err := newBlockDevice(f, o)
	if err != nil {
		f.Close()
		return nil, err
	}
	return d, nil
}

// newBlockDevice queries size and block size and builds the backend.
func newBlockDevice(f *os.File, o Options) (*blockDevice, error) {
	if _, err := checkOpened(f, o.Path, isBlockDevice); err != nil {
		return nil, err
	}
	fd := int(f.Fd())
	size, err := deviceSize(fd)
	if err != nil {
		return nil, pathErr("BLKGETSIZE64", o.Path, err)
	}
	bs, err := unix.IoctlGetInt(fd, unix.BLKSSZGET)
	if err != nil {
		return nil, pathErr("BLKSSZGET", o.Path, err)
	}
	if size <= 0 || size > 1<<62 {
		return nil, pathErr("open", o.Path, fmt.Errorf("unusable device size %d", size))
	}
	b, err := newFDBackend(f, o.Path, size, o.ReadOnly, blkDiscard)
	if err != nil {
		return nil, pathErr("open", o.Path, err)
	}
	if o.Direct {
		if err := b.enableDirect(int64(bs), directMemAlign); err != nil {
			return nil, err
		}
	}
	d := &blockDevice{fdBackend: b, blockSize: bs}
	d.watchSize()
	return d, nil
}

// blkDiscard issues BLKDISCARD for [off, off+length); the kernel also drops
// the range from the page cache.
func blkDiscard(fd int, off, length int64) error {
	r := [2]uint64{uint64(off), uint64(length)}
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.BLKDISCARD, uintptr(unsafe.Pointer(&r))); e != 0 {
		return e
	}
	return nil
}
