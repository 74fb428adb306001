package backend

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// blockSizePoll is how often a watched block device's size is looked at (one
// BLKGETSIZE64 ioctl), as rbdSizePoll is an RBD image's.
const blockSizePoll = time.Second

// sizeWatch follows a block device's size, which an administrator may change while
// it is served (lvextend, lvreduce, losetup -c): it is looked at every poll and at
// once when IO meets the device's end, and a change is told to the function
// OnResize set (SizeWatcher), so that the LUN reports CAPACITY DATA HAS CHANGED
// and checks commands against the new size. Reads past the end of a device that
// shrank fail (fdBackend.pastEnd) instead of reading as zeros: those blocks are
// gone, unlike a regular file's sparse tail.
type sizeWatch struct {
	// query returns the device's size (BLKGETSIZE64); a field so tests can fake it.
	query func(fd int) (int64, error)
	// every is the poll interval.
	every    time.Duration
	onResize atomic.Pointer[func(int64)]
	// mu orders the size checks and their reports, so that two never report one
	// change twice nor two changes out of order.
	mu sync.Mutex
	// once starts the poll (started), halt stops it (closing stop); done is
	// closed when it has ended.
	once, halt sync.Once
	started    atomic.Bool
	stop, done chan struct{}
}

// deviceSize is BLKGETSIZE64.
func deviceSize(fd int) (int64, error) {
	var size uint64
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.BLKGETSIZE64, uintptr(unsafe.Pointer(&size))); e != 0 {
		return 0, e
	}
	return int64(size), nil
}

// watchSize sets up d's size watch: reads that meet the device's end look at its
// size (pastEnd); the poll starts with OnResize.
func (d *blockDevice) watchSize() {
	d.watch = &sizeWatch{query: deviceSize, every: blockSizePoll, stop: make(chan struct{}), done: make(chan struct{})}
	d.pastEnd = d.pastEndErr
}

// OnResize sets the function told of a size change made from outside (it must not
// block: it is called with the watch's lock held), and starts looking at the size
// every blockSizePoll.
func (d *blockDevice) OnResize(f func(size int64)) {
	d.watch.onResize.Store(&f)
	d.watch.once.Do(func() {
		d.watch.started.Store(true)
		go d.poll()
	})
}

// poll looks at the size until Close.
func (d *blockDevice) poll() {
	defer close(d.watch.done)
	t := time.NewTicker(d.watch.every)
	defer t.Stop()
	for {
		select {
		case <-d.watch.stop:
			return
		case <-t.C:
			d.refresh()
		}
	}
}

// refresh reads the device's size and, if it changed, stores it and reports it. A
// size of 0 (a loop device detached, a disk removed) is not stored: the device is
// gone, not empty, and IO reports that (ENXIO). It returns the size read, or -1.
func (d *blockDevice) refresh() int64 {
	w := d.watch
	w.mu.Lock()
	var size int64
	err := d.control(func(fd int) error {
		var err error
		size, err = w.query(fd)
		return err
	})
	if err != nil {
		w.mu.Unlock()
		return -1
	}
	if size > 0 && size != d.size.Load() {
		d.size.Store(size)
		// Told under mu, so that reports come in the order of the changes (the
		// target's function only starts a goroutine).
		if f := w.onResize.Load(); f != nil {
			(*f)(size)
		}
	}
	w.mu.Unlock()
	return size
}

// pastEndErr is the error of a read that met the device's end: the device shrank
// (the range is past its new end, reported to OnResize), or is gone (ENXIO).
func (d *blockDevice) pastEndErr() error {
	switch size := d.refresh(); {
	case size == 0:
		return unix.ENXIO
	case size < 0:
		return errors.New("read past the end of the device, whose size cannot be read")
	default:
		return fmt.Errorf("%w: read past the end of the device, now %d bytes", ErrOutOfRange, size)
	}
}

// shrunk turns the ENOSPC of a write that ended at end into the device having
// shrunk, if it did: a block device answers ENOSPC to a write past its end, and a
// thin LU would report that as out of space. An ENOSPC within the device's size
// (a dm-thin pool that is full) stays ENOSPC.
func (d *blockDevice) shrunk(err error, end int64) error {
	if err == nil || !errors.Is(err, unix.ENOSPC) {
		return err
	}
	switch size := d.refresh(); {
	case size == 0:
		return pathErr("write", d.path, unix.ENXIO)
	case size > 0 && end > size:
		return pathErr("write", d.path, fmt.Errorf("%w: write past the end of the device, now %d bytes", ErrOutOfRange, size))
	}
	return err
}

// WriteAt is fdBackend's, with an ENOSPC past a shrunk device's end reported as such.
func (d *blockDevice) WriteAt(p []byte, off int64, stable bool) error {
	return d.shrunk(d.fdBackend.WriteAt(p, off, stable), off+int64(len(p)))
}

// WriteVec is fdBackend's, with an ENOSPC past a shrunk device's end reported as such.
func (d *blockDevice) WriteVec(bufs [][]byte, off int64) error {
	end := off
	for _, p := range bufs {
		end += int64(len(p))
	}
	return d.shrunk(d.fdBackend.WriteVec(bufs, off), end)
}

// Close stops the size watch and closes the descriptor.
func (d *blockDevice) Close() error {
	w := d.watch
	w.halt.Do(func() { close(w.stop) })
	if w.started.Load() {
		<-w.done
	}
	return d.fdBackend.Close()
}
