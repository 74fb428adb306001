package backend

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// ErrInUse: the file or block device is locked by another open of it (another
// atgtd, a second LUN of this one, or a program such as QEMU that locks its images).
var ErrInUse = errors.New("in use: locked by another process or LUN")

// lockStore takes an open file description lock (F_OFD_SETLK) on the whole of the
// just-opened f: a write lock, or a read lock when shared (a read-only or
// Options.Shared backend), so that an exclusive writer never serves a file or device
// another open serves, whichever process it is in; shared openers coexist. The lock goes with the descriptor's last
// close, also when the process dies. OFD locks, not flock: udev takes flock(LOCK_SH)
// on a block device while it probes one, which would make a fresh device look busy
// for a moment; fcntl and flock locks do not see each other.
func lockStore(f *os.File, path string, shared bool) error {
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0, Start: 0, Len: 0} // Len 0: to the end, however far it grows
	if shared {
		lk.Type = unix.F_RDLCK
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return pathErr("lock", path, err)
	}
	var lockErr error
	if err := rc.Control(func(fd uintptr) {
		for {
			lockErr = unix.FcntlFlock(fd, unix.F_OFD_SETLK, &lk)
			if !errors.Is(lockErr, unix.EINTR) {
				return
			}
		}
	}); err != nil {
		return pathErr("lock", path, err)
	}
	switch {
	case errors.Is(lockErr, unix.EAGAIN), errors.Is(lockErr, unix.EACCES):
		return pathErr("lock", path, fmt.Errorf("%w (is another atgtd serving it?)", ErrInUse))
	case lockErr != nil:
		return pathErr("lock", path, lockErr)
	}
	return nil
}

// StoreID says which file or device a backend serves, whatever the path that named
// it: a regular file's device and inode, a block device's device number (Rdev; two
// device nodes of one disk are one store).
type StoreID struct {
	Dev, Ino uint64
	Block    bool
}

// Identified is a backend on a file or block device that can tell its StoreID.
type Identified interface {
	StoreID() (StoreID, error)
}

// StoreID is the identity of the opened file or device.
func (b *fdBackend) StoreID() (StoreID, error) {
	var st unix.Stat_t
	if err := b.control(func(fd int) error { return unix.Fstat(fd, &st) }); err != nil {
		return StoreID{}, pathErr("stat", b.path, err)
	}
	if st.Mode&unix.S_IFMT == unix.S_IFBLK {
		return StoreID{Dev: st.Rdev, Block: true}, nil
	}
	return StoreID{Dev: st.Dev, Ino: st.Ino}, nil
}

// PathStoreID is the StoreID of the file or block device at path (symlinks
// followed), to find a store already served under another name before opening it.
func PathStoreID(path string) (StoreID, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return StoreID{}, pathErr("stat", path, err)
	}
	if st.Mode&unix.S_IFMT == unix.S_IFBLK {
		return StoreID{Dev: st.Rdev, Block: true}, nil
	}
	return StoreID{Dev: st.Dev, Ino: st.Ino}, nil
}
