package backend

import (
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// wbCall is one sync_file_range call the write-behind goroutine made.
type wbCall struct {
	off, n int64
	flags  int
	err    error
}

// TestWriteBehindStartsWriteback: a hint reaches sync_file_range on the backend's
// descriptor with the range and SYNC_FILE_RANGE_WRITE alone (no wait flag, which
// would consume a writeback error that fdatasync must still report), and the
// kernel accepts it on this file system.
func TestWriteBehindStartsWriteback(t *testing.T) {
	b := openPath(t, filepath.Join(t.TempDir(), "wb.img"), 1<<20).(*fdBackend)
	calls := make(chan wbCall, 4)
	b.syncFileRange = func(fd int, off, n int64, flags int) error {
		err := unix.SyncFileRange(fd, off, n, flags)
		calls <- wbCall{off, n, flags, err}
		return err
	}
	if err := b.WriteAt(make([]byte, 8192), 4096, false); err != nil {
		t.Fatal(err)
	}
	b.StartWriteback(4096, 8192)
	select {
	case c := <-calls:
		if c.off != 4096 || c.n != 8192 || c.flags != unix.SYNC_FILE_RANGE_WRITE {
			t.Fatalf("sync_file_range(%d, %d, %#x), want (4096, 8192, SYNC_FILE_RANGE_WRITE)", c.off, c.n, c.flags)
		}
		if c.err != nil {
			t.Fatalf("sync_file_range: %v", c.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no sync_file_range within 5 s of the hint")
	}
	if err := b.Sync(); err != nil {
		t.Fatal(err)
	}
}

// TestWriteBehindNeverBlocks: while the write-behind goroutine is stuck in the kernel
// (a device that hangs), hints return at once and the ones beyond its queue are
// dropped; Close ends the goroutine once the call returns, and hints after Close do
// nothing.
func TestWriteBehindNeverBlocks(t *testing.T) {
	base := runtime.NumGoroutine()
	b := openPath(t, filepath.Join(t.TempDir(), "wb.img"), 1<<20).(*fdBackend)
	release := make(chan struct{})
	calls := make(chan wbCall, 2*writeBehindQueue)
	b.syncFileRange = func(fd int, off, n int64, flags int) error {
		calls <- wbCall{off: off, n: n, flags: flags}
		<-release
		return nil
	}
	start := time.Now()
	for i := 0; i < 10*writeBehindQueue; i++ {
		b.StartWriteback(int64(i)*512, 512)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("%d hints took %v with the goroutine stuck", 10*writeBehindQueue, d)
	}
	select {
	case <-calls:
	case <-time.After(5 * time.Second):
		t.Fatal("no sync_file_range within 5 s of the hints")
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	close(release)
	b.StartWriteback(0, 512)
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines 5 s after Close, %d before the backend opened", runtime.NumGoroutine(), base)
		}
		time.Sleep(time.Millisecond)
	}
	// The stuck call, at most the queue after it (the goroutine may take some before
	// it sees Close), and nothing after Close.
	if n := 1 + len(calls); n > 1+writeBehindQueue {
		t.Fatalf("%d sync_file_range calls for a queue of %d", n, writeBehindQueue)
	}
}

// TestWriteBehindNothingToStart: with O_DIRECT nothing is cached, and a read-only
// backend has nothing dirty: no call is made.
func TestWriteBehindNothingToStart(t *testing.T) {
	dir := t.TempDir()
	d := openDirect(t, filepath.Join(dir, "direct.img"), 1<<20)
	openPath(t, filepath.Join(dir, "ro.img"), 1<<20).Close()
	ro, err := Open(Options{Path: filepath.Join(dir, "ro.img"), ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	for name, b := range map[string]*fdBackend{"O_DIRECT": d, "read-only": ro.(*fdBackend)} {
		called := make(chan struct{}, 1)
		b.syncFileRange = func(int, int64, int64, int) error { called <- struct{}{}; return nil }
		b.StartWriteback(0, 4096)
		select {
		case <-called:
			t.Fatalf("%s: sync_file_range called", name)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TestWriteBehindErrorReachesSync: sync_file_range(SYNC_FILE_RANGE_WRITE) consumes no
// errseq error, but the writeback it starts runs the file system's writepages in the
// calling thread, and an error that writepages returns there is the caller's alone: ext4,
// failing a delayed allocation ("Data will be lost"), invalidates the dirty pages and
// records nothing in the mapping. The fdatasync of the flush that follows then finds the
// range clean and returns 0. So the hint's error must reach the next Sync, as the
// fdatasync's own would have without write-behind; here datasync succeeds as it would.
func TestWriteBehindErrorReachesSync(t *testing.T) {
	b := openPath(t, filepath.Join(t.TempDir(), "wb.img"), 1<<20).(*fdBackend)
	b.datasync = func(int) error { return nil } // the pages are gone: nothing to report
	called := make(chan struct{}, 1)
	b.syncFileRange = func(int, int64, int64, int) error {
		called <- struct{}{}
		return unix.EIO
	}
	if err := b.WriteAt(make([]byte, 4096), 0, false); err != nil {
		t.Fatal(err)
	}
	b.StartWriteback(0, 4096)
	select {
	case <-called:
	case <-time.After(5 * time.Second):
		t.Fatal("no sync_file_range within 5 s of the hint")
	}
	// The call has returned its error; give the goroutine its turn to record it
	// only through Sync itself (no sleep): Sync must account for a running hint.
	if err := b.Sync(); err == nil {
		t.Fatal("Sync answered nil after the write-behind of the range failed with EIO")
	}
}

// TestWriteBehindSyncWaitsForRunningHint: a hint still in the kernel when the flush's
// fdatasync returns may yet fail having dropped the range (the fdatasync found its
// pages locked by the hint's writeback, then clean): the Sync must not answer before
// the hint has returned and its error is recorded.
func TestWriteBehindSyncWaitsForRunningHint(t *testing.T) {
	b := openPath(t, filepath.Join(t.TempDir(), "wb.img"), 1<<20).(*fdBackend)
	b.datasync = func(int) error { return nil }
	entered, release := make(chan struct{}), make(chan struct{})
	b.syncFileRange = func(int, int64, int64, int) error {
		close(entered)
		<-release
		return unix.EIO
	}
	b.StartWriteback(0, 4096)
	select {
	case <-entered:
	case <-time.After(5 * time.Second):
		t.Fatal("no sync_file_range within 5 s of the hint")
	}
	res := make(chan error, 1)
	go func() { res <- b.Sync() }()
	select {
	case err := <-res:
		t.Fatalf("Sync answered %v while the hint was still in the kernel", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	select {
	case err := <-res:
		if err == nil {
			t.Fatal("Sync answered nil after the running hint failed with EIO")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Sync still waiting 5 s after the hint returned")
	}
}

// TestWriteBehindTransientErrorNotSticky: ENOMEM leaves the pages dirty (ext4 lets the
// upper layers retry), and a hint the kernel refuses (EINVAL, ESPIPE) started nothing:
// the flush writes the range itself and reports what it meets, so neither fails it.
func TestWriteBehindTransientErrorNotSticky(t *testing.T) {
	for _, errno := range []unix.Errno{unix.ENOMEM, unix.EINVAL, unix.ESPIPE, unix.ENOSYS} {
		b := openPath(t, filepath.Join(t.TempDir(), "wb.img"), 1<<20).(*fdBackend)
		b.datasync = func(int) error { return nil }
		called := make(chan struct{}, 1)
		b.syncFileRange = func(int, int64, int64, int) error { called <- struct{}{}; return errno }
		b.StartWriteback(0, 4096)
		select {
		case <-called:
		case <-time.After(5 * time.Second):
			t.Fatalf("%v: no sync_file_range within 5 s of the hint", errno)
		}
		if err := b.Sync(); err != nil {
			t.Fatalf("%v from a hint: Sync answered %v", errno, err)
		}
	}
}
