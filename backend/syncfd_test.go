package backend

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// errseqFake models the kernel's rule for a writeback error (errseq_t): one
// failed writeback is reported once per open file description, to the first
// fdatasync or RWF_DSYNC write that checks on it; a description opened later is
// not told (here: every description in use already existed). Descriptions are
// told apart by their descriptor numbers, which differ while they are open.
type errseqFake struct {
	mu       sync.Mutex
	reported map[int]bool
}

// check is one consumer's check of the description fd.
func (e *errseqFake) check(fd int) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.reported[fd] {
		return nil
	}
	e.reported[fd] = true
	return unix.EIO
}

// TestConcurrentSyncsSeeWritebackError: two SYNCHRONIZE CACHEs at once (two
// sessions, or the retry of one the watchdog abandoned) while the writeback they
// cover fails must both fail. On one shared description only the first to check
// would be told, and the other would answer GOOD over lost data; each sync runs on
// a description of its own, so each is told. Later syncs keep failing.
func TestConcurrentSyncsSeeWritebackError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.img")
	b := openPath(t, path, 1<<20).(*fdBackend)
	fake := &errseqFake{reported: map[int]bool{}}
	var wait func()
	b.datasync = func(fd int) error {
		wait() // both wait for the same failing writeback
		return fake.check(fd)
	}
	errs := atOnce(2, func(int) error { return b.Sync() }, &wait)
	for i, err := range errs {
		if !errors.Is(err, unix.EIO) {
			t.Errorf("Sync %d returned %v although the writeback it covers failed (the other got %v)", i, err, errs[1-i])
		}
	}
	b.datasync = func(fd int) error { return nil }
	if err := b.Sync(); err == nil {
		t.Errorf("a later Sync succeeded")
	}
}

// TestConcurrentFUAWritesSeeWritebackError: the same for stable writes (FUA, WCE=0),
// through the page cache and with O_DIRECT: an RWF_DSYNC write that waits on a
// failing writeback beside another one must fail too, not answer GOOD because the
// other consumed the error.
func TestConcurrentFUAWritesSeeWritebackError(t *testing.T) {
	for _, direct := range []bool{false, true} {
		t.Run(fmt.Sprintf("direct=%v", direct), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "w.img")
			var b *fdBackend
			if direct {
				b = openDirect(t, path, 1<<20)
			} else {
				b = openPath(t, path, 1<<20).(*fdBackend)
			}
			fake := &errseqFake{reported: map[int]bool{}}
			var wait func()
			b.pwritev2 = func(fd int, iovs [][]byte, off int64, flags int) (int, error) {
				n, err := unix.Pwritev(fd, iovs, off)
				if err != nil {
					return 0, err
				}
				wait()
				if err := fake.check(fd); err != nil {
					return 0, err // the range sync after the copy failed
				}
				return n, nil
			}
			errs := atOnce(2, func(i int) error {
				return b.WriteAt(make([]byte, 4096), int64(i)*4096, true)
			}, &wait)
			for i, err := range errs {
				if !errors.Is(err, unix.EIO) {
					t.Errorf("stable write %d returned %v although its writeback failed (the other got %v)", i, err, errs[1-i])
				}
			}
			if err := b.Sync(); !errors.Is(err, unix.EIO) {
				t.Errorf("Sync after a failed stable write: %v, want the sticky EIO", err)
			}
		})
	}
}

// atOnce runs n calls of f at once and returns their errors. *wait is set, before
// any call starts, to a function the backend's hooks call inside their consumer:
// it returns once every call is there, as calls waiting on the same writeback do.
func atOnce(n int, f func(i int) error, wait *func()) []error {
	var in sync.WaitGroup
	in.Add(n)
	release := make(chan struct{})
	*wait = func() { in.Done(); <-release }
	go func() { in.Wait(); close(release) }()
	errs := make([]error, n)
	var done sync.WaitGroup
	for i := range n {
		done.Add(1)
		go func() { defer done.Done(); errs[i] = f(i) }()
	}
	done.Wait()
	return errs
}

// TestSyncDescriptorsAreOwnDescriptions: the descriptors concurrent syncs use are
// distinct open file descriptions (their own file offset, so not dup) of the
// backend's file, a sequential sync reuses one, and Close closes them all.
func TestSyncDescriptorsAreOwnDescriptions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "d.img")
	b := openPath(t, path, 1<<20).(*fdBackend)
	var mu sync.Mutex
	fds := map[int]bool{}
	var wait func()
	b.datasync = func(fd int) error {
		mu.Lock()
		fds[fd] = true
		mu.Unlock()
		wait()
		return unix.Fdatasync(fd)
	}
	errs := atOnce(3, func(int) error { return b.Sync() }, &wait)
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(fds) != 3 {
		t.Fatalf("3 concurrent syncs used %d descriptors, want 3", len(fds))
	}
	var want unix.Stat_t
	if err := unix.Stat(path, &want); err != nil {
		t.Fatal(err)
	}
	var list []int
	for fd := range fds {
		list = append(list, fd)
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil || st.Ino != want.Ino {
			t.Fatalf("descriptor %d is not the backend's file: %v", fd, err)
		}
	}
	// An own open file description has its own offset; a dup would share it.
	if _, err := unix.Seek(list[0], 4096, 0); err != nil {
		t.Fatal(err)
	}
	for _, fd := range list[1:] {
		if pos, _ := unix.Seek(fd, 0, 1); pos == 4096 {
			t.Errorf("descriptor %d shares its offset with %d: the same open file description", fd, list[0])
		}
	}
	// A sync after them takes a free one: no new descriptor.
	wait = func() {}
	clear(fds)
	if err := b.Sync(); err != nil || len(fds) != 1 || !contains(list, firstKey(fds)) {
		t.Errorf("sequential sync: %v, used %v, want one of %v", err, fds, list)
	}
	b.datasync = unix.Fdatasync
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	for _, fd := range list {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err == nil {
			// The number may have been reused by another file meanwhile; it
			// must at least not be the backend's file any more.
			var st unix.Stat_t
			if unix.Fstat(fd, &st) == nil && st.Ino == want.Ino {
				t.Errorf("descriptor %d still open after Close", fd)
			}
		}
	}
}

func contains(list []int, v int) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func firstKey(m map[int]bool) int {
	for k := range m {
		return k
	}
	return -1
}
