package backend

import "io"

// VectorWriter is implemented by backends that can write several buffers back to
// back with one system call (pwritev). A LUN merges adjacent cached writes that
// arrive together into one such call; backends without it get one WriteAt per
// buffer, with the same effect.
type VectorWriter interface {
	// WriteVec writes bufs one after another from off, as WriteAt with
	// stable=false would write their concatenation.
	WriteVec(bufs [][]byte, off int64) error
}

// WriteVec writes bufs back to back with pwritev (through the page cache); with
// O_DIRECT it writes them one by one through the bounce buffers.
func (b *fdBackend) WriteVec(bufs [][]byte, off int64) error {
	if err := b.usable(true); err != nil {
		return pathErr("write", b.path, err)
	}
	var total int64
	for _, p := range bufs {
		total += int64(len(p))
	}
	if err := checkRange(off, total, b.size); err != nil {
		return pathErr("write", b.path, err)
	}
	if b.direct != nil {
		for _, p := range bufs {
			if err := b.pwrite(p, off); err != nil {
				return err
			}
			off += int64(len(p))
		}
		return nil
	}
	err := b.control(func(fd int) error {
		// Vectors are capped at IOV_MAX (1024) per call; a short write leaves
		// the rest for the next round.
		rest := bufs
		var head []byte // unwritten tail of a partly written buffer
		for len(rest) > 0 || len(head) > 0 {
			iov := rest
			if len(head) > 0 {
				iov = append([][]byte{head}, rest...)
			}
			if len(iov) > 1024 {
				iov = iov[:1024]
			}
			n, err := b.pwritev(fd, iov, off)
			if err != nil {
				return err
			}
			if n <= 0 {
				return io.ErrShortWrite
			}
			off += int64(n)
			for n > 0 {
				cur := head
				if len(cur) == 0 {
					cur, rest = rest[0], rest[1:]
				}
				if n < len(cur) {
					head = cur[n:]
					n = 0
				} else {
					n -= len(cur)
					head = nil
				}
			}
		}
		return nil
	})
	if err != nil {
		if b.closed.Load() {
			err = ErrClosed
		}
		return pathErr("write", b.path, unwrapPath(err))
	}
	return nil
}
