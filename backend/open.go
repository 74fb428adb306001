package backend

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// Open opens the backing store named by o.Path: a regular file (created
// sparse if o.Create and it is missing) or a block device. Anything else (a
// directory, FIFO, character device, socket) is refused with an error
// naming the path and wrapping ErrUnsupported, before it is opened, so a
// FIFO can never block the caller.
func Open(o Options) (Backend, error) {
	switch {
	case o.Path == "":
		return nil, errors.New("backend open: empty path")
	case o.Size < 0:
		return nil, pathErr("open", o.Path, fmt.Errorf("negative size %d", o.Size))
	case o.Create && o.ReadOnly:
		return nil, pathErr("open", o.Path, errors.New("Create and ReadOnly together"))
	}
	fi, err := os.Stat(o.Path)
	if errors.Is(err, fs.ErrNotExist) && o.Create {
		return openFile(o)
	}
	if err != nil {
		return nil, pathErr("open", o.Path, unwrapPath(err))
	}
	switch kind := fi.Mode(); {
	case kind.IsRegular():
		return openFile(o)
	case isBlockDevice(kind):
		return openBlockDevice(o)
	default:
		return nil, pathErr("open", o.Path, fmt.Errorf("%w (mode %v)", ErrUnsupported, kind.Type()))
	}
}

// isBlockDevice reports S_IFBLK: device but not character device.
func isBlockDevice(m fs.FileMode) bool {
	return m&fs.ModeDevice != 0 && m&fs.ModeCharDevice == 0
}

// openFlags are the open(2) flags for o.
func openFlags(o Options) int {
	flags := os.O_RDWR
	switch {
	case o.ReadOnly:
		flags = os.O_RDONLY
	case o.Create:
		flags = os.O_RDWR | os.O_CREATE
	}
	if o.Direct {
		flags |= unix.O_DIRECT
	}
	return flags
}

// checkOpened guards against the path being replaced between Stat and
// open: the opened descriptor must still be of the expected kind.
func checkOpened(f *os.File, path string, want func(fs.FileMode) bool) (fs.FileInfo, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, pathErr("open", path, unwrapPath(err))
	}
	if !want(fi.Mode()) {
		return nil, pathErr("open", path, fmt.Errorf("%w (mode %v, changed while opening)", ErrUnsupported, fi.Mode().Type()))
	}
	return fi, nil
}
