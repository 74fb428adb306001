package backend

import (
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"
)

// TestConcurrentSyncsSeeWritebackError: Linux reports a writeback
// error once per open file description: of several fdatasync calls on the one
// descriptor that are waiting when writeback fails, the first to check gets EIO and
// advances the file's errseq, the others return 0 (file_check_and_advance_wb_err).
// fdBackend.Sync reads the sticky error before its fdatasync and records it after,
// so a second SYNCHRONIZE CACHE running at the same time (another session, or the
// initiator's retry of a SYNC the watchdog abandoned) answers GOOD over lost data.
func TestConcurrentSyncsSeeWritebackError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.img")
	b := openPath(t, path, 1<<20).(*fdBackend)
	var reported atomic.Bool // the errseq: reported once
	var inSync sync.WaitGroup
	inSync.Add(2)
	release := make(chan struct{})
	b.datasync = func(fd int) error {
		inSync.Done()
		<-release // both wait for the same failing writeback
		if reported.CompareAndSwap(false, true) {
			return unix.EIO
		}
		return nil // the error was already reported to this file description
	}
	errs := make([]error, 2)
	var done sync.WaitGroup
	for i := range errs {
		done.Add(1)
		go func() { defer done.Done(); errs[i] = b.Sync() }()
	}
	inSync.Wait()
	close(release)
	done.Wait()
	for i, err := range errs {
		if err == nil {
			t.Errorf("Sync %d returned nil although the writeback it covers failed (the other got %v)", i, errs[1-i])
		}
	}
	if err := b.Sync(); err == nil {
		t.Errorf("a later Sync succeeded")
	}
}
