package backend

import (
	"errors"
	"io"
)

// ErrNoVector is returned by a wrapper's ReadVec or WriteVec when it cannot do the
// call vectored now (fault injection with faults set): the caller performs the
// buffers one by one with ReadAt or WriteAt instead, with the same effect.
var ErrNoVector = errors.New("vectored IO unavailable")

// VectorWriter is implemented by backends that can write several buffers back to
// back with one system call (pwritev). A LUN merges adjacent cached writes that
// arrive together into one such call; backends without it get one WriteAt per
// buffer, with the same effect.
type VectorWriter interface {
	// WriteVec writes bufs one after another from off, as WriteAt with
	// stable=false would write their concatenation.
	WriteVec(bufs [][]byte, off int64) error
}

// VectorReader is implemented by backends that can fill several buffers from
// consecutive ranges with one system call (preadv), for runs of adjacent reads.
type VectorReader interface {
	// ReadVec fills bufs one after another from off, as ReadAt would fill their
	// concatenation (a hole or a short file reads as zeros).
	ReadVec(bufs [][]byte, off int64) error
}

// WriteVec writes bufs back to back with pwritev (through the page cache); with
// O_DIRECT it writes them one by one through the bounce buffers.
func (b *fdBackend) WriteVec(bufs [][]byte, off int64) error {
	return b.vector("write", true, bufs, off, b.pwritev, b.pwrite, func(*iovCursor) error {
		return io.ErrShortWrite
	})
}

// ReadVec fills bufs with preadv; with O_DIRECT it reads them one by one.
func (b *fdBackend) ReadVec(bufs [][]byte, off int64) error {
	read := func(p []byte, off int64) error { _, err := b.ReadAt(p, off); return err }
	return b.vector("read", false, bufs, off, b.preadv, read, func(c *iovCursor) error {
		c.clear() // end of a file shorter than its size: the rest reads as zeros
		return nil
	})
}

// vector checks a vectored transfer and performs it with sys (preadv or pwritev),
// continuing after short transfers; a call that moves nothing ends it with atEnd
// (a read: with pastEnd where the backend has it).
// With O_DIRECT each buffer goes through one instead (the bounce buffers).
func (b *fdBackend) vector(op string, write bool, bufs [][]byte, off int64,
	sys func(fd int, iov [][]byte, off int64) (int, error),
	one func(p []byte, off int64) error, atEnd func(*iovCursor) error) error {
	if err := b.usable(write); err != nil {
		return pathErr(op, b.path, err)
	}
	var total int64
	for _, p := range bufs {
		total += int64(len(p))
	}
	if err := checkRange(off, total, b.size.Load()); err != nil {
		return pathErr(op, b.path, err)
	}
	if b.direct != nil {
		for _, p := range bufs {
			if err := one(p, off); err != nil {
				return err
			}
			off += int64(len(p))
		}
		return nil
	}
	// The cursor and the offset are one value outside the closure, advanced
	// together: control runs the closure again after EINTR, and the retry must go
	// on from the last transfer's end, buffers and offset alike.
	run := vecRun{c: iovCursor{rest: bufs}, off: off}
	err := b.control(func(fd int) error {
		for !run.c.done() {
			n, err := sys(fd, run.c.iov(), run.off)
			if err != nil {
				return err
			}
			if n <= 0 {
				if !write && b.pastEnd != nil {
					return b.pastEnd() // a block device that shrank
				}
				return atEnd(&run.c)
			}
			run.off += int64(n)
			run.c.advance(n)
		}
		return nil
	})
	return b.opErr(op, err)
}

// vecRun is where a vectored transfer stands: what is left (c) and its offset.
type vecRun struct {
	c   iovCursor
	off int64
}

// iovCursor walks buffers that make up one byte range through short transfers: what
// is left is the unfinished tail of one buffer (head) and the buffers after it.
type iovCursor struct {
	head []byte
	rest [][]byte
}

// maxIOV is the kernel's IOV_MAX: the most buffers one preadv/pwritev takes.
const maxIOV = 1024

func (c *iovCursor) done() bool { return len(c.head) == 0 && len(c.rest) == 0 }

// iov returns the buffers for the next call.
func (c *iovCursor) iov() [][]byte {
	v := c.rest
	if len(c.head) > 0 {
		v = append([][]byte{c.head}, c.rest...)
	}
	return v[:min(len(v), maxIOV)]
}

// advance moves past n transferred bytes.
func (c *iovCursor) advance(n int) {
	for n > 0 {
		cur := c.head
		if len(cur) == 0 {
			cur, c.rest = c.rest[0], c.rest[1:]
		}
		if n < len(cur) {
			c.head, n = cur[n:], 0
		} else {
			c.head, n = nil, n-len(cur)
		}
	}
}

// clear zeroes everything not yet transferred.
func (c *iovCursor) clear() {
	clear(c.head)
	for _, p := range c.rest {
		clear(p)
	}
}
