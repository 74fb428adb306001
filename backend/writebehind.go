package backend

import (
	"errors"
	"runtime"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// WriteBehinder is implemented by backends whose cached writes sit in a cache the
// backend can be asked to start emptying early (the page cache under a file or block
// device). A LUN whose initiator flushes often asks for it after answering a cached
// write, so that the kernel writes the range back while the initiator is still
// sending its SYNCHRONIZE CACHE, and the sync that follows finds less to do.
type WriteBehinder interface {
	// StartWriteback starts writing [off, off+length) back to the store without
	// waiting for it. A hint: it makes nothing durable, returns nothing, and
	// consumes no writeback error (a later Sync still reports every one, and an
	// error of the hint's own too).
	StartWriteback(off, length int64)
}

// StartWriteback has the backend's write-behind goroutine ask the kernel to start
// writing the range's dirty pages back (sync_file_range with SYNC_FILE_RANGE_WRITE
// alone: WB_SYNC_NONE writeback, no wait). Without a SYNC_FILE_RANGE_WAIT_* flag the
// call does not check or advance the description's writeback error (file_check_and_advance_wb_err), so
// fdatasync still reports a failure of this writeback's IO to every description
// that has not seen it (syncfd.go). With O_DIRECT there is nothing cached to start.
//
// But the call runs the file system's writepages itself, and an error writepages
// returns is the caller's alone, not always recorded in the mapping: ext4, failing
// a delayed allocation (an unreadable bitmap, a corrupt tree: "Data will be lost"),
// invalidates the dirty pages and records nothing, so the fdatasync that follows
// finds the range clean and returns 0. Without write-behind that fdatasync would
// have met the error itself. So the goroutine records such an error as the
// backend's sticky error, and Sync waits for a hint still in the kernel before it
// answers (writeBehind.wait).
func (b *fdBackend) StartWriteback(off, length int64) {
	if b.direct != nil || b.readOnly || b.closed.Load() {
		return
	}
	b.behind.queue(b, off, length)
}

// writeBehind runs a backend's write-behind hints on a goroutine of its own, so that
// StartWriteback never blocks its caller: sync_file_range may wait for the device
// (a full request queue, a journal that is committing, a disk that hangs), and an IO
// worker that had answered its WRITE would then sit outside the LUN's watchdog. A
// hint that finds the queue full is dropped; the sync that follows writes the range
// anyway. The goroutine starts with the first hint and ends at Close.
type writeBehind struct {
	ch      atomic.Pointer[chan [2]int64]
	mu      sync.Mutex
	done    chan struct{}
	stopped bool
	// call is held by the goroutine for each sync_file_range and the recording of
	// its error; wait takes it.
	call sync.Mutex
}

// writeBehindQueue bounds the hints waiting for the goroutine.
const writeBehindQueue = 64

// queue hands a range to b's write-behind goroutine, starting it if need be.
func (w *writeBehind) queue(b *fdBackend, off, length int64) {
	ch := w.ch.Load()
	if ch == nil {
		if ch = w.start(b); ch == nil {
			return // closed
		}
	}
	select {
	case *ch <- [2]int64{off, length}:
	default:
	}
}

// start starts the goroutine once, unless the backend is closed.
func (w *writeBehind) start(b *fdBackend) *chan [2]int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return nil
	}
	if ch := w.ch.Load(); ch != nil {
		return ch
	}
	ch := make(chan [2]int64, writeBehindQueue)
	w.done = make(chan struct{})
	go w.run(b, ch, w.done)
	w.ch.Store(&ch)
	return &ch
}

// run starts the writeback of each range it is handed. It first yields, so that
// the goroutines the worker woke before it (the connection's, which sends the
// WRITE's answer) run first: on one P a woken goroutine would otherwise run next.
func (w *writeBehind) run(b *fdBackend, ch chan [2]int64, done chan struct{}) {
	for {
		select {
		case r := <-ch:
			runtime.Gosched()
			w.call.Lock()
			err := b.control(func(fd int) error {
				return b.syncFileRange(fd, r[0], r[1], unix.SYNC_FILE_RANGE_WRITE)
			})
			if writebackLost(err) {
				b.syncErr.set(pathErr("write-behind", b.path, err))
			}
			w.call.Unlock()
		case <-done:
			return
		}
	}
}

// stop ends the goroutine (Close).
func (w *writeBehind) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopped = true
	if w.done != nil {
		close(w.done)
		w.done = nil
	}
}

// wait returns once no hint is in the kernel: a Sync calls it after its fdatasync,
// so that the error of a hint that ran meanwhile (and may have left the fdatasync
// nothing to write) is recorded before the Sync reads the sticky error. A hint
// that hangs holds the Sync as a hung fdatasync would, within the LUN's watchdog.
func (w *writeBehind) wait() {
	w.call.Lock()
	w.call.Unlock() //nolint:staticcheck // an empty critical section: a barrier
}

// writebackLost reports whether a hint's error may have cost cached data that no
// later fdatasync would report: any error but the call refused before it started
// anything (EINVAL, ESPIPE, ENOSYS, EOPNOTSUPP), ENOMEM (the file system keeps the
// pages dirty for the flush to retry: ext4 "lets the upper layers retry transient
// errors") and Close.
func writebackLost(err error) bool {
	switch {
	case err == nil, errors.Is(err, ErrClosed),
		errors.Is(err, unix.EINVAL), errors.Is(err, unix.ESPIPE),
		errors.Is(err, unix.ENOSYS), errors.Is(err, unix.EOPNOTSUPP),
		errors.Is(err, unix.ENOMEM):
		return false
	}
	return true
}
