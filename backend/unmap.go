package backend

import (
	"errors"

	"golang.org/x/sys/unix"
)

// zeros is the source for writing zeros when a store cannot deallocate.
var zeros [1 << 20]byte

// Unmap deallocates [off, off+length) with the store's discard primitive;
// if the filesystem or device does not support it (EOPNOTSUPP, ENOSYS) it
// writes zeros instead (cached, like a non-stable write) and remembers to
// go straight to zeroing next time.
func (b *fdBackend) Unmap(off, length int64) error {
	if err := b.usable(true); err != nil {
		return pathErr("unmap", b.path, err)
	}
	if err := checkRange(off, length, b.size.Load()); err != nil {
		return pathErr("unmap", b.path, err)
	}
	if length == 0 {
		return nil
	}
	// Mapped's remembered run is forgotten before the discard and again after it.
	// GET LBA STATUS takes no range lock, so a Mapped can run alongside. Forgetting
	// before alone left a gap: a Mapped that read the generation after that forget
	// and looked before the punch stored a run of data the punch then removed. With
	// the second forget, such a Mapped stores its run before it (which clears it) or
	// after it (remember refuses a run read under an older generation); one that
	// reads the generation after the second forget looks after the punch. So once
	// Unmap returns, no run it deallocated is remembered, whatever the interleaving.
	b.dataRun.forget()
	defer b.dataRun.forget()
	if !b.noDiscard.Load() {
		err := b.discardRange(off, length)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.ENOSYS):
			b.noDiscard.Store(true)
		default:
			return pathErr("unmap", b.path, err)
		}
	}
	return b.writeZeros(off, length)
}

// discardRange runs the discard primitive. With O_DIRECT it is ordered
// against read-modify-write like a write of whole blocks, so merging edge
// bytes of a neighbouring write never resurrects discarded data.
func (b *fdBackend) discardRange(off, length int64) error {
	if b.direct != nil {
		b.direct.rmw.RLock()
		defer b.direct.rmw.RUnlock()
	}
	return b.control(func(fd int) error { return b.discard(fd, off, length) })
}

// writeZeros overwrites a range with zeros in 1 MiB pwrites.
func (b *fdBackend) writeZeros(off, length int64) error {
	for length > 0 {
		n := min(length, int64(len(zeros)))
		if err := b.pwrite(zeros[:n], off); err != nil {
			return pathErr("unmap", b.path, unwrapPath(err))
		}
		off, length = off+n, length-n
	}
	return nil
}
