package backend

import (
	"errors"
	"io"
	"os"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// fdBackend is the part shared by the file and block device backends:
// positional IO on one descriptor opened once. os.File's ReadAt/WriteAt are
// pread/pwrite and the raw syscalls go through RawConn.Control, which holds
// a reference on the descriptor, so a concurrent Close can never make a
// worker act on a reused descriptor number.
type fdBackend struct {
	f    *os.File
	rc   syscall.RawConn
	path string
	// size is the capacity in bytes; Resize changes it while workers read it.
	size     atomic.Int64
	readOnly bool
	// resizable: a regular file, whose size an administrator may change (a block
	// device's is the device's).
	resizable bool
	closed    atomic.Bool

	// syncErr is the sticky durability error (see stickyErr).
	syncErr stickyErr
	// syncFDs lends each sync and stable write a description of its own
	// (syncfd.go).
	syncFDs syncFDs
	// behind runs write-behind hints (writebehind.go).
	behind writeBehind
	// noDsync is set once pwritev2(RWF_DSYNC) proved unsupported.
	noDsync atomic.Bool
	// noDiscard is set once the discard primitive proved unsupported.
	noDiscard atomic.Bool
	// direct is set when the descriptor is opened with O_DIRECT: every
	// transfer then goes through aligned bounce buffers (see direct.go).
	direct *directIO

	// datasync, pwritev2, pwritev and preadv are the unix functions; fields so
	// tests can make them fail.
	datasync func(fd int) error
	pwritev2 func(fd int, iovs [][]byte, off int64, flags int) (int, error)
	pwritev  func(fd int, iovs [][]byte, off int64) (int, error)
	preadv   func(fd int, iovs [][]byte, off int64) (int, error)
	// syncFileRange is unix.SyncFileRange, for write-behind (writebehind.go).
	syncFileRange func(fd int, off, n int64, flags int) error
	// dataRun spares Mapped repeated lseek scans (mapper.go).
	dataRun dataRun
	// discard deallocates a range: punch hole on files, BLKDISCARD on
	// block devices.
	discard func(fd int, off, length int64) error
	// preallocated: a thick file (Options.Preallocate), whose Resize allocates
	// what it adds.
	preallocated bool
	// pastEnd, if set, is the error of a read that meets the end of the store
	// (a block device that shrank: blocksize.go); nil reads zeros there (a file's
	// sparse tail).
	pastEnd func() error
}

// newFDBackend wraps an opened file; size is the capacity in bytes.
func newFDBackend(f *os.File, path string, size int64, readOnly bool,
	discard func(fd int, off, length int64) error) (*fdBackend, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	b := &fdBackend{
		f: f, rc: rc, path: path, readOnly: readOnly,
		datasync: unix.Fdatasync, pwritev2: unix.Pwritev2, pwritev: unix.Pwritev, preadv: unix.Preadv, discard: discard,
		syncFileRange: unix.SyncFileRange,
	}
	b.size.Store(size)
	b.syncFDs.free = []*syncFD{{f: f, rc: rc, first: true}}
	return b, nil
}

// control runs fn on the raw descriptor, retrying EINTR, and reports
// ErrClosed after Close.
func (b *fdBackend) control(fn func(fd int) error) error {
	return b.controlVia(b.rc, fn)
}

// controlVia runs fn on rc's descriptor, retrying EINTR, and reports ErrClosed
// after Close.
func (b *fdBackend) controlVia(rc syscall.RawConn, fn func(fd int) error) error {
	var opErr error
	err := rc.Control(func(fd uintptr) {
		for {
			opErr = fn(int(fd))
			if opErr != unix.EINTR {
				return
			}
		}
	})
	if err != nil {
		if b.closed.Load() {
			return ErrClosed
		}
		return err
	}
	return opErr
}

// usable reports ErrClosed after Close and, for writes, ErrReadOnly.
func (b *fdBackend) usable(write bool) error {
	if b.closed.Load() {
		return ErrClosed
	}
	if write && b.readOnly {
		return ErrReadOnly
	}
	return nil
}

// ReadAt reads with pread; a range past the end of a shorter file (for
// example one truncated behind our back) reads as zeros, past the end of a
// block device that shrank fails (pastEnd).
func (b *fdBackend) ReadAt(p []byte, off int64) (int, error) {
	if err := b.usable(false); err != nil {
		return 0, pathErr("read", b.path, err)
	}
	if err := checkRange(off, int64(len(p)), b.size.Load()); err != nil {
		return 0, pathErr("read", b.path, err)
	}
	if b.direct != nil {
		return b.directRead(p, off)
	}
	n, err := b.f.ReadAt(p, off)
	if err == io.EOF && b.pastEnd != nil {
		return n, b.opErr("read", b.pastEnd())
	}
	if err == io.EOF {
		clear(p[n:])
		return len(p), nil
	}
	if err != nil {
		return n, b.opErr("read", err)
	}
	return n, nil
}

// WriteAt writes with pwrite, or durably with writeStable.
func (b *fdBackend) WriteAt(p []byte, off int64, stable bool) error {
	if err := b.usable(true); err != nil {
		return pathErr("write", b.path, err)
	}
	if err := checkRange(off, int64(len(p)), b.size.Load()); err != nil {
		return pathErr("write", b.path, err)
	}
	if stable {
		return b.writeStable(p, off)
	}
	return b.pwrite(p, off)
}

// pwrite is a plain (cached, or with O_DIRECT uncached) positional write.
func (b *fdBackend) pwrite(p []byte, off int64) error {
	var err error
	if b.direct != nil {
		err = b.directWrite(p, off, nil)
	} else {
		_, err = b.f.WriteAt(p, off)
	}
	return b.opErr("write", err)
}

// opErr wraps a failed operation's error with the path, as ErrClosed after Close;
// nil stays nil.
func (b *fdBackend) opErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if b.closed.Load() {
		err = ErrClosed
	}
	return pathErr(op, b.path, unwrapPath(err))
}

// Size is the capacity fixed at open.
func (b *fdBackend) Size() int64 { return b.size.Load() }

// Resize sets a regular file's size (ftruncate): a larger file reads as zeros past the
// old end, a smaller one loses the bytes past the new end. The new size holds for IO
// that starts after Resize returns.
func (b *fdBackend) Resize(size int64) error {
	if !b.resizable {
		return pathErr("resize", b.path, errors.New("only a regular file can be resized"))
	}
	if b.readOnly {
		return pathErr("resize", b.path, errors.New("read-only"))
	}
	if size <= 0 || (b.direct != nil && size%b.direct.align != 0) {
		return pathErr("resize", b.path, errors.New("bad size"))
	}
	old := b.size.Load()
	err := b.control(func(fd int) error {
		if err := unix.Ftruncate(fd, size); err != nil {
			return err
		}
		if b.preallocated && size > old {
			// A thick LUN grows thick: its new blocks are allocated now, as
			// at open, or it does not grow.
			if err := allocate(fd, old, size-old); err != nil {
				_ = unix.Ftruncate(fd, old)
				return err
			}
		}
		return nil
	})
	if err != nil {
		return pathErr("resize", b.path, err)
	}
	b.size.Store(size)
	// A shrink drops the data past the new end and a later grow brings it back as
	// a hole: the remembered data run may be stale either way (mapper.go).
	b.dataRun.forget()
	return nil
}

// Sync is fdatasync, on a description no other sync or stable write uses
// meanwhile (syncfd.go). The first failure is kept and returned by every later
// Sync (and by stable writes that fall back to fdatasync), because Linux
// reports a writeback error only once per description and a later fdatasync
// could succeed although data was lost.
func (b *fdBackend) Sync() error {
	if err := b.usable(false); err != nil {
		return pathErr("sync", b.path, err)
	}
	if err := b.syncErr.get(); err != nil {
		return err
	}
	d, err := b.takeSyncFD()
	if err != nil {
		return pathErr("sync", b.path, err) // nothing was synced, nothing consumed
	}
	err = b.controlOn(d, b.datasync)
	if err != nil && !errors.Is(err, ErrClosed) {
		err = b.syncErr.set(pathErr("sync", b.path, err))
	}
	b.giveSyncFD(d)
	switch {
	case errors.Is(err, ErrClosed):
		return pathErr("sync", b.path, err)
	case err != nil:
		return err
	}
	// A call on another description may have recorded an error this one was
	// not told (syncfd.go: what stays open), and a write-behind hint that ran
	// meanwhile one that no description was told (writebehind.go).
	b.behind.wait()
	return b.syncErr.get()
}

// Close closes the descriptor once; IO already running in other goroutines
// finishes on the still-referenced descriptor.
func (b *fdBackend) Close() error {
	if b.closed.Swap(true) {
		return pathErr("close", b.path, ErrClosed)
	}
	b.behind.stop()
	b.closeSyncFDs()
	return pathErr("close", b.path, unwrapPath(b.f.Close()))
}

// unwrapPath strips the *fs.PathError os adds, so ours is the only one.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
