package backend

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// openFile opens (or creates) a regular file as a backend. The file is
// extended sparse (ftruncate) to o.Size if it is smaller; it is never
// shrunk. Files go through the page cache on purpose (the paper's lesson:
// bypassing it loses on read-mostly work).
func openFile(o Options) (Backend, error) {
	f, err := os.OpenFile(o.Path, openFlags(o), 0o600)
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
	b, err := newFile(f, o)
	if err != nil {
		f.Close()
		return nil, err
	}
	return b, nil
}

// newFile sizes the opened file and builds the backend.
func newFile(f *os.File, o Options) (*fdBackend, error) {
	fi, err := checkOpened(f, o.Path, fs.FileMode.IsRegular)
	if err != nil {
		return nil, err
	}
	size := fi.Size()
	if o.Size > size {
		if o.ReadOnly {
			return nil, pathErr("open", o.Path,
				fmt.Errorf("read-only file has %d bytes, fewer than the %d asked for", size, o.Size))
		}
		if err := f.Truncate(o.Size); err != nil {
			return nil, pathErr("extend", o.Path, unwrapPath(err))
		}
		size = o.Size
	}
	if size == 0 {
		return nil, pathErr("open", o.Path, errors.New("file is empty and no Size was given"))
	}
	if o.Preallocate && !o.ReadOnly {
		if err := preallocate(f, size); err != nil {
			return nil, pathErr("preallocate", o.Path, err)
		}
	}
	b, err := newFDBackend(f, o.Path, size, o.ReadOnly, punchHole)
	if err != nil {
		return nil, pathErr("open", o.Path, err)
	}
	b.resizable = true
	b.preallocated = o.Preallocate && !o.ReadOnly
	if o.Direct {
		align, memAlign, err := directAlignmentOf(f, o.Path)
		if err != nil {
			return nil, err
		}
		if err := b.enableDirect(align, memAlign); err != nil {
			return nil, err
		}
		if err := checkSharedDirect(o, b.direct.align); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// punchHole deallocates a file range, keeping the file size, so the blocks
// return to the filesystem and the range reads as zeros.
func punchHole(fd int, off, length int64) error {
	return unix.Fallocate(fd, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, length)
}

// preallocate allocates [0, size) of the file without changing its contents
// (fallocate mode 0 fills holes only). A filesystem that cannot do it is not
// an error: the file then stays as sparse as the filesystem keeps it.
func preallocate(f *os.File, size int64) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) {
		for {
			ferr = allocate(int(fd), 0, size)
			if ferr != unix.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	return ferr
}

// allocate allocates [off, off+length) of a file (fallocate mode 0, which fills
// holes only and extends the size if needed); a filesystem that cannot is not an
// error, as for preallocate.
func allocate(fd int, off, length int64) error {
	err := unix.Fallocate(fd, 0, off, length)
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) {
		return nil
	}
	return err
}
