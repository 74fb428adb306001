package backend

import (
	"errors"
	"io"

	"golang.org/x/sys/unix"
)

// writeStable writes p at off and makes just that range durable before it
// returns: pwritev2 with RWF_DSYNC, which syncs the written range (and the
// metadata needed to read it back) instead of the whole file.
//
// Fallback: only if the kernel or filesystem rejects pwritev2/RWF_DSYNC
// (ENOSYS, EOPNOTSUPP) do we pwrite and then fdatasync, and remember that
// so later stable writes go straight to the fallback. That is correct but
// syncs the whole file's dirty data.
//
// Any other failure of a stable write also poisons Sync: the RWF_DSYNC
// write consumes the descriptor's pending writeback error, which may belong
// to an earlier cached write, so a later fdatasync could otherwise wrongly
// succeed.
func (b *fdBackend) writeStable(p []byte, off int64) error {
	if !b.noDsync.Load() {
		var err error
		if b.direct != nil {
			err = b.directWrite(p, off, unix.RWF_DSYNC)
		} else {
			err = b.control(func(fd int) error {
				for len(p) > 0 {
					n, err := b.pwritev2(fd, [][]byte{p}, off, unix.RWF_DSYNC)
					if err != nil {
						return err
					}
					if n <= 0 {
						return io.ErrShortWrite
					}
					p, off = p[n:], off+int64(n)
				}
				return nil
			})
		}
		switch {
		case err == nil:
			return nil
		case errors.Is(err, ErrClosed):
			return pathErr("write", b.path, err)
		case errors.Is(err, unix.ENOSYS), errors.Is(err, unix.EOPNOTSUPP):
			b.noDsync.Store(true)
		default:
			err = pathErr("stable write", b.path, err)
			b.syncErr.set(err)
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
