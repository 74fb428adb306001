package backend

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// Descriptors for the calls that consume the kernel's writeback error.
//
// Linux keeps a file's writeback errors in its mapping (an errseq_t) and reports
// each one once per open file description: fdatasync, and a write with RWF_DSYNC
// (which ends in the same range sync), compare the description's f_wb_err with the
// mapping's and advance it (file_check_and_advance_wb_err). When two such calls wait
// on one description while the writeback fails, the first to check gets EIO and the
// other 0: with one descriptor shared by all IO workers, a second SYNCHRONIZE CACHE
// (another session, or a retry of one the watchdog abandoned) or a FUA write whose
// own range failed would answer GOOD over lost data.
//
// So no two such calls share a description. Each call takes one of its own from
// syncFDs for its length (the backend's first descriptor, or a fresh open() of the
// same inode through /proc/self/fd: never dup, which shares the description and
// its f_wb_err), and hands it back only after it has recorded any error as the
// backend's sticky error. The description belongs to the call, not to a worker:
// a worker replaced after an abandoned call, an EXTENDED COPY writing into this
// LUN from another LUN's worker, the flush of `lun rm` and of shutdown all get one
// the same way, through Sync and WriteAt, and the Backend interface is unchanged.
// Reads, cached writes and unmaps consume no writeback error and keep using the
// first descriptor with no extra lock or system call; a stable write or a sync
// pays one uncontended mutex to take a description and one to give it back.
//
// Per call rather than per worker: a worker makes one call at a time, so a
// descriptor per worker would give the same guarantee (no two such calls on one
// description at once), but the Backend interface would have to hand out
// per-worker handles through every wrapper (faults, counters, IO policy), a
// replacement worker would have to open its own, and the holders that are not
// this LUN's workers would need theirs too. Lending per call does it inside the
// backend for every caller. Concurrent calls still run concurrently, so the
// kernel's group commit of concurrent fdatasyncs and RWF_DSYNC writes is kept.
//
// Why every error reaches the call it concerns. Take a call C on description D and
// a writeback error E of data written before C:
//   - E after D was opened: D's f_wb_err predates E, so either C sees E, or an
//     earlier call on D saw it and recorded it as the sticky error before D was
//     handed on, and C, a sync, returns that (a stable write is only answerable
//     for its own range, written during C itself). Calls on other descriptions
//     see E each on their own, however they overlap in time.
//   - E before D was opened: open() samples the mapping's errseq so that an error
//     nobody has been told yet is reported to the new description too; C sees it.
//
// What stays open: an error that some other description already reported before D
// was opened is not reported to D. That description is either another process's
// (an fsync of the image by another program: then only our descriptions opened
// before E report it, at their next use), or one of ours whose call has not yet
// recorded the sticky error when C ends (C reads the sticky error again after its
// call, which leaves only the few instructions between that call's return and its
// record). Descriptions are opened lazily, only while every open one is in use
// (the first calls, peaks of concurrency, or calls hung in the kernel), so that
// window is rare. Errors reported before the backend was opened (to a previous
// process, or before a LUN was removed and added again) are not covered either
// (README "Durability").
type syncFDs struct {
	mu     sync.Mutex
	free   []*syncFD
	closed bool
}

// syncFD is one open file description lent to one call at a time.
type syncFD struct {
	f  *os.File
	rc syscall.RawConn
	// first marks the backend's own descriptor, which Close closes itself.
	first bool
	// accepted is set once the store took some of a stable write's data: a
	// later error may then come from the range sync (see writeStable).
	accepted bool
}

// takeSyncFD lends the caller a description no other call is using: a free one,
// or a new one if every one is in use.
func (b *fdBackend) takeSyncFD() (*syncFD, error) {
	s := &b.syncFDs
	s.mu.Lock()
	if n := len(s.free); n > 0 {
		d := s.free[n-1]
		s.free[n-1] = nil
		s.free = s.free[:n-1]
		s.mu.Unlock()
		d.accepted = false
		return d, nil
	}
	s.mu.Unlock()
	return b.openSyncFD()
}

// giveSyncFD takes a description back, once its call has recorded any error;
// after Close it is closed instead.
func (b *fdBackend) giveSyncFD(d *syncFD) {
	s := &b.syncFDs
	s.mu.Lock()
	if !s.closed {
		s.free = append(s.free, d)
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	if !d.first {
		d.f.Close()
	}
}

// closeSyncFDs closes the free descriptions other than the first (Close closes
// that one); those in use are closed when they come back.
func (b *fdBackend) closeSyncFDs() {
	s := &b.syncFDs
	s.mu.Lock()
	free := s.free
	s.free, s.closed = nil, true
	s.mu.Unlock()
	for _, d := range free {
		if !d.first {
			d.f.Close()
		}
	}
}

// openSyncFD opens the backend's inode again, with its flags, as a new open file
// description: through /proc/self/fd, which names the inode even if the path was
// renamed or replaced, or the path where /proc is missing. Either way the opened
// file must be the same inode.
func (b *fdBackend) openSyncFD() (*syncFD, error) {
	flags := unix.O_RDWR
	if b.readOnly {
		flags = unix.O_RDONLY
	}
	if b.direct != nil {
		flags |= unix.O_DIRECT
	}
	var f *os.File
	var first unix.Stat_t
	err := b.control(func(fd int) error {
		if err := unix.Fstat(fd, &first); err != nil {
			return err
		}
		var err error
		f, err = os.OpenFile("/proc/self/fd/"+strconv.Itoa(fd), flags, 0)
		return err
	})
	if errors.Is(err, ErrClosed) {
		return nil, err
	}
	if err != nil {
		if f, err = os.OpenFile(b.path, flags, 0); err != nil {
			return nil, fmt.Errorf("open another descriptor: %w", unwrapPath(err))
		}
	}
	var st unix.Stat_t
	var statErr error
	rc, err := f.SyscallConn()
	if err == nil {
		err = rc.Control(func(fd uintptr) { statErr = unix.Fstat(int(fd), &st) })
	}
	if err == nil {
		err = statErr
	}
	if err == nil && (st.Dev != first.Dev || st.Ino != first.Ino || st.Rdev != first.Rdev) {
		err = errors.New("the path now names another file")
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open another descriptor: %w", err)
	}
	return &syncFD{f: f, rc: rc}, nil
}

// controlOn runs fn on d's descriptor, retrying EINTR, as control does on the
// first descriptor.
func (b *fdBackend) controlOn(d *syncFD, fn func(fd int) error) error {
	return b.controlVia(d.rc, fn)
}
