package backend

import (
	"errors"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Mapper is implemented by backends that can tell allocated ranges from
// holes, so GET LBA STATUS can report which blocks of a thin LUN are mapped.
// A backend without it is reported as fully mapped.
type Mapper interface {
	// Mapped reports whether the byte at off is allocated and how many
	// bytes from off (at most length) share that state.
	Mapped(off, length int64) (mapped bool, runLength int64, err error)
}

// dataRun remembers the last run of data Mapped found, [start, end). Only Unmap
// and Resize (a shrink, then a grow) turn data into a hole, and they forget the
// run (unmaps counts them, so a Mapped that raced with one does not store what it
// saw before it). Writes only fill holes, so the run stays data. lseek(SEEK_HOLE) can cost as much as the distance
// to the next hole (tmpfs walks its page cache: milliseconds for a fully written
// GiB), and initiators such as QEMU ask GET LBA STATUS before large reads.
type dataRun struct {
	mu         sync.Mutex
	start, end int64
	unmaps     atomic.Int64
}

// covering returns the end of the remembered run if it holds off.
func (d *dataRun) covering(off int64) (int64, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.end, d.start <= off && off < d.end
}

// remember stores [start, end) as data unless an Unmap began since gen was read.
func (d *dataRun) remember(start, end, gen int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.unmaps.Load() == gen {
		d.start, d.end = start, end
	}
}

// forget is called by Unmap before it deallocates anything and after, and by
// Resize.
func (d *dataRun) forget() {
	d.unmaps.Add(1)
	d.mu.Lock()
	d.start, d.end = 0, 0
	d.mu.Unlock()
}

// Mapped asks the filesystem with lseek(SEEK_DATA) and lseek(SEEK_HOLE),
// which never block on data IO but do touch metadata, so only IO workers call
// it. A filesystem without SEEK_DATA support reports everything as data. A
// range inside the last data run found is answered without asking (dataRun).
func (b *fdBackend) Mapped(off, length int64) (bool, int64, error) {
	if err := b.usable(false); err != nil {
		return false, 0, pathErr("seek", b.path, err)
	}
	if err := checkRange(off, length, b.size.Load()); err != nil {
		return false, 0, pathErr("seek", b.path, err)
	}
	if length == 0 {
		return true, 0, nil
	}
	if end, ok := b.dataRun.covering(off); ok {
		return true, min(end-off, length), nil
	}
	gen := b.dataRun.unmaps.Load()
	var mapped bool
	var run int64
	err := b.control(func(fd int) error {
		data, err := unix.Seek(fd, off, unix.SEEK_DATA)
		switch {
		case errors.Is(err, unix.ENXIO):
			// No data at or after off: a hole up to the end of the file.
			mapped, run = false, length
			return nil
		case errors.Is(err, unix.EINVAL), errors.Is(err, unix.EOPNOTSUPP):
			mapped, run = true, length
			return nil
		case err != nil:
			return err
		}
		if data > off {
			mapped, run = false, data-off
			return nil
		}
		hole, err := unix.Seek(fd, off, unix.SEEK_HOLE)
		if err != nil {
			return err
		}
		mapped, run = true, hole-off
		return nil
	})
	if err != nil {
		return false, 0, pathErr("seek", b.path, err)
	}
	if mapped && run > 0 {
		b.dataRun.remember(off, off+run, gen)
	}
	if run > length || run <= 0 {
		run = length
	}
	return mapped, run, nil
}

// Mapped on a block device cannot see the device's allocation, so it reports
// everything as mapped (the fallback SBC-3 allows).
func (d *blockDevice) Mapped(off, length int64) (bool, int64, error) {
	if err := checkRange(off, length, d.size.Load()); err != nil {
		return false, 0, pathErr("seek", d.path, err)
	}
	return true, length, nil
}
