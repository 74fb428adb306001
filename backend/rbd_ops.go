//go:build ceph

package backend

// #include <errno.h>
// #include <rbd/librbd.h>
import "C"

import (
	"errors"
	"syscall"
	"time"
	"unsafe"
)

// imageSize asks librbd for the image's size (refreshed from its header watch).
func (b *rbdBackend) imageSize() (int64, error) {
	var size C.uint64_t
	if ret := C.rbd_get_size(b.h.image, &size); ret < 0 {
		return 0, syscall.Errno(-ret)
	}
	return int64(size), nil
}

// poll looks at the image's size every rbdSizePoll and reports a change made from
// outside to the OnResize function.
func (b *rbdBackend) poll() {
	defer close(b.pollDone)
	t := time.NewTicker(rbdSizePoll)
	defer t.Stop()
	for n := 1; ; n++ {
		select {
		case <-b.stop:
			return
		case <-t.C:
		case <-b.suspect:
		}
		if b.checkFence() {
			continue
		}
		b.recheck(n)
		b.resizeMu.Lock()
		b.mu.RLock()
		size, err := b.imageSize()
		b.mu.RUnlock()
		changed := err == nil && size != b.size.Load()
		if changed {
			b.size.Store(size)
		}
		b.resizeMu.Unlock()
		if f := b.onResize.Load(); changed && f != nil {
			(*f)(size)
		}
	}
}

// OnResize sets the function told of a size change made from outside.
func (b *rbdBackend) OnResize(f func(size int64)) { b.onResize.Store(&f) }

// Resize resizes the image (the administrator's ResizeLun).
func (b *rbdBackend) Resize(size int64) error {
	if err := b.use("resize", true, 0, noRange); err != nil {
		return err
	}
	defer b.done()
	b.resizeMu.Lock()
	defer b.resizeMu.Unlock()
	if err := b.errno("resize", C.ssize_t(C.rbd_resize(b.h.image, C.uint64_t(size)))); err != nil {
		return err
	}
	b.size.Store(size)
	return nil
}

// objectSize is the size of the image's RADOS objects (fixed at its creation).
func (b *rbdBackend) objectSize() (int64, error) {
	var info C.rbd_image_info_t
	if ret := C.rbd_stat(b.h.image, &info, C.size_t(unsafe.Sizeof(info))); ret < 0 {
		return 0, syscall.Errno(-ret)
	}
	return int64(info.obj_size), nil
}

// CompareAndWrite is librbd's compare-and-write, atomic in the cluster. A range
// across two RADOS objects, which librbd refuses, answers ErrNoNative (the LUN
// compares and writes itself).
func (b *rbdBackend) CompareAndWrite(cmp, data []byte, off int64, stable bool) error {
	if len(cmp) != len(data) {
		return pathErr("compare and write", "rbd:"+b.name, errors.New("compare and write data differ in length"))
	}
	if err := b.use("compare and write", true, off, int64(len(data))); err != nil {
		return err
	}
	defer b.done()
	if len(data) == 0 {
		return nil
	}
	n := int64(len(data))
	if obj := b.objSize; obj <= 0 || off/obj != (off+n-1)/obj {
		return ErrNoNative
	}
	if max := b.cawMax.Load(); max > 0 && n > max {
		return ErrNoNative
	}
	var flags C.int
	if stable {
		flags = rbdFUA
	}
	res := b.h.aio.do(b.h.image, aioCmpWrite, aioArgs{off: uint64(off), length: uint64(n), buf: cmp, buf2: data, flags: flags})
	ret := C.ssize_t(res.ret)
	if ret == -C.EILSEQ {
		return &MiscompareError{Offset: miscompareOffset(int64(res.mismatch), off, n, b.objSize, rbdObjectBasedMismatch())}
	}
	if ret == -C.EINVAL && n > 512 { // too long for this librbd (Pacific: one sector)
		b.cawMax.Store(512)
		return ErrNoNative
	}
	return b.errno("compare and write", ret)
}

// miscompareOffset turns librbd's mismatch into the offset within the compared
// range of n bytes at off. librbd 1.16 (Ceph 16) and older answer the compared
// object's first byte in the image plus the offset within the range (object
// number x object size + delta); later releases answer the image offset of the
// differing byte (off + delta). The range never crosses an object, so the two
// readings differ by off's offset within its object; when only one of them falls
// within the range it is the answer, else objectBased (the release) decides.
func miscompareOffset(mismatch, off, n, objSize int64, objectBased bool) int64 {
	byObject := mismatch - off/objSize*objSize
	byImage := mismatch - off
	inObj, inImg := byObject >= 0 && byObject < n, byImage >= 0 && byImage < n
	switch {
	case inObj && (!inImg || objectBased):
		return byObject
	case inImg:
		return byImage
	}
	return min(max(byObject, 0), n-1) // neither: a guess within the range
}

// rbdObjectBasedMismatch reports whether the librbd in use answers a miscompare as
// object number x object size + delta (librbd 1.16, Ceph 16, and older).
func rbdObjectBasedMismatch() bool {
	var major, minor, extra C.int
	C.rbd_version(&major, &minor, &extra)
	return major < 1 || major == 1 && minor <= 16
}

// WriteSame is rbd_writesame: block is sent once and replicated over the range.
func (b *rbdBackend) WriteSame(block []byte, off, length int64, stable bool) error {
	if err := b.use("write same", true, off, length); err != nil {
		return err
	}
	defer b.done()
	if length == 0 || len(block) == 0 {
		return nil
	}
	if length%int64(len(block)) != 0 {
		return ErrNoNative
	}
	var flags C.int
	if stable {
		flags = rbdFUA
	}
	ret := b.h.aio.do(b.h.image, aioWriteSame, aioArgs{off: uint64(off), length: uint64(length), buf: block, n2: len(block),
		flags: flags}).ret
	return b.errno("write same", C.ssize_t(ret))
}

// ReadVec fills bufs from off with one rbd_aio_readv.
func (b *rbdBackend) ReadVec(bufs [][]byte, off int64) error {
	return b.vec("read", false, bufs, off)
}

// WriteVec writes bufs from off with one rbd_aio_writev.
func (b *rbdBackend) WriteVec(bufs [][]byte, off int64) error {
	return b.vec("write", true, bufs, off)
}

// vec performs one vectored request and waits for it.
func (b *rbdBackend) vec(op string, write bool, bufs [][]byte, off int64) error {
	var total int64
	iovs := make([][]byte, 0, len(bufs))
	for _, p := range bufs {
		total += int64(len(p))
		if len(p) > 0 {
			iovs = append(iovs, p)
		}
	}
	if err := b.use(op, write, off, total); err != nil {
		return err
	}
	defer b.done()
	if len(iovs) == 0 {
		return nil
	}
	kind := C.int(aioReadv)
	if write {
		kind = aioWritev
	}
	r := b.h.aio.do(b.h.image, kind, aioArgs{off: uint64(off), iovs: iovs}).ret
	if err := b.errno(op, C.ssize_t(r)); err != nil {
		if !write {
			return fencedRead(err)
		}
		return err
	}
	if !write && r < total { // past the end of a shrinking image: zeros
		skip := r
		for _, p := range bufs {
			if skip >= int64(len(p)) {
				skip -= int64(len(p))
				continue
			}
			clear(p[skip:])
			skip = 0
		}
	}
	return nil
}

// IsLockOwner reports whether this client holds the image's exclusive lock.
func (b *rbdBackend) IsLockOwner() (bool, error) {
	if err := b.use("lock owner", false, 0, noRange); err != nil {
		return false, err
	}
	defer b.done()
	var owner C.int
	if ret := C.rbd_is_exclusive_lock_owner(b.h.image, &owner); ret < 0 {
		return false, b.errno("lock owner", C.ssize_t(ret))
	}
	return owner != 0, nil
}

// AcquireLock takes the exclusive lock in managed mode (librbd then no longer hands
// it to a peer that asks); it fails while a live peer holds it.
func (b *rbdBackend) AcquireLock() error {
	if err := b.use("lock acquire", true, 0, noRange); err != nil {
		return err
	}
	defer b.done()
	return b.errno("lock acquire", C.ssize_t(C.rbd_lock_acquire(b.h.image, C.RBD_LOCK_MODE_EXCLUSIVE)))
}

// ReleaseLock gives the exclusive lock up.
func (b *rbdBackend) ReleaseLock() error {
	if err := b.use("lock release", false, 0, noRange); err != nil {
		return err
	}
	defer b.done()
	return b.errno("lock release", C.ssize_t(C.rbd_lock_release(b.h.image)))
}
