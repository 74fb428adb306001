package backend

import (
	"errors"

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

// Mapped asks the filesystem with lseek(SEEK_DATA) and lseek(SEEK_HOLE),
// which never block on data IO but do touch metadata, so only IO workers call
// it. A filesystem without SEEK_DATA support reports everything as data.
func (b *fdBackend) Mapped(off, length int64) (bool, int64, error) {
	if err := b.usable(false); err != nil {
		return false, 0, pathErr("seek", b.path, err)
	}
	if err := checkRange(off, length, b.size); err != nil {
		return false, 0, pathErr("seek", b.path, err)
	}
	if length == 0 {
		return true, 0, nil
	}
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
	if run > length || run <= 0 {
		run = length
	}
	return mapped, run, nil
}

// Mapped on a block device cannot see the device's allocation, so it reports
// everything as mapped (the fallback SBC-3 allows).
func (d *blockDevice) Mapped(off, length int64) (bool, int64, error) {
	if err := checkRange(off, length, d.size); err != nil {
		return false, 0, pathErr("seek", d.path, err)
	}
	return true, length, nil
}
