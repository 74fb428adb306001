package backend

import (
	"errors"
	"io"

	"golang.org/x/sys/unix"
)

// writeStable writes p at off and makes just that range durable before it
// returns: pwritev2 with RWF_DSYNC, which syncs the written range (and the
// metadata needed to read it back) instead of the whole file, on a description
// no other sync or stable write uses meanwhile (syncfd.go).
//
// Fallback: only if the kernel or filesystem rejects pwritev2/RWF_DSYNC
// (ENOSYS, EOPNOTSUPP) do we pwrite and then fdatasync, and remember that
// so later stable writes go straight to the fallback. That is correct but
// syncs the whole file's dirty data.
//
// A failure that may have consumed the description's pending writeback error
// also poisons Sync (see consumedWriteback): that error may belong to an earlier
// cached write, so a later fdatasync could otherwise wrongly succeed.
func (b *fdBackend) writeStable(p []byte, off int64) error {
	if !b.noDsync.Load() {
		d, err := b.takeSyncFD()
		if err != nil {
			return pathErr("stable write", b.path, err) // nothing written
		}
		if b.direct != nil {
			err = b.directWrite(p, off, d)
		} else {
			err = b.controlOn(d, func(fd int) error {
				for len(p) > 0 {
					n, err := b.pwritev2(fd, [][]byte{p}, off, unix.RWF_DSYNC)
					if err != nil {
						return err
					}
					if n <= 0 {
						return io.ErrShortWrite
					}
					d.accepted = true
					p, off = p[n:], off+int64(n)
				}
				return nil
			})
		}
		fallback := false
		switch {
		case err == nil:
		case errors.Is(err, ErrClosed):
			err = pathErr("write", b.path, err)
		case errors.Is(err, unix.ENOSYS), errors.Is(err, unix.EOPNOTSUPP):
			b.noDsync.Store(true)
			fallback = true
		case consumedWriteback(err, d.accepted):
			err = b.syncErr.set(pathErr("stable write", b.path, err))
		default:
			err = pathErr("stable write", b.path, unwrapRMW(err))
		}
		b.giveSyncFD(d)
		if !fallback {
			return err
		}
	}
	// Fallback for kernels without RWF_DSYNC: p and off hold what is left
	// (all of it with O_DIRECT, whose chunks are rewritten whole).
	if err := b.pwrite(p, off); err != nil {
		return err
	}
	return b.Sync()
}

// consumedWriteback reports whether a failed stable write may have consumed a
// writeback error, which must then stay as the sticky error. The kernel runs the
// range sync of an RWF_DSYNC write only after it copied data, so a write refused
// before anything was accepted for lack of space or quota, for size, or on a
// read-only filesystem consumed none: keeping it would fail every later
// SYNCHRONIZE CACHE for the life of the process, although nothing was lost (a full
// thin LUN whose administrator frees space). The read of an O_DIRECT
// read-modify-write consumes none either. Everything else may have (EIO above
// all, and any error after part of the data was accepted, which may come from the
// range sync), and so is kept.
//
// What this gives up: a range sync that fails with ENOSPC or EDQUOT from writeback
// (NFS can) returns the error, not a count, and so looks like a refusal from user
// space. The write itself is still answered with the error; but if that writeback
// error belonged to an earlier cached write, no later Sync reports it.
func consumedWriteback(err error, accepted bool) bool {
	var re *rmwReadError
	switch {
	case errors.As(err, &re):
		return false
	case accepted:
		return true
	case errors.Is(err, unix.ENOSPC), errors.Is(err, unix.EDQUOT),
		errors.Is(err, unix.EFBIG), errors.Is(err, unix.EROFS):
		return false
	}
	return true
}

// rmwReadError marks a failure in the read half of an O_DIRECT read-modify-write:
// a read, which consumes no writeback error.
type rmwReadError struct{ err error }

func (e *rmwReadError) Error() string { return e.err.Error() }
func (e *rmwReadError) Unwrap() error { return e.err }

// unwrapRMW strips rmwReadError, which only classifies.
func unwrapRMW(err error) error {
	var re *rmwReadError
	if errors.As(err, &re) {
		return re.err
	}
	return err
}
