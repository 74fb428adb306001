package backend

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestENOSPCDoesNotPoisonSync: a stable write (FUA or WCE=0) refused for lack of
// space wrote nothing and consumed no writeback error (the kernel runs the range
// sync only after a successful copy). It fails, but later syncs must not: once the
// administrator frees space, SYNCHRONIZE CACHE succeeds again, since nothing was lost.
func TestENOSPCDoesNotPoisonSync(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.img")
	b := openPath(t, path, 1<<20).(*fdBackend)
	full := true
	b.pwritev2 = func(fd int, iovs [][]byte, off int64, flags int) (int, error) {
		if full {
			return 0, unix.ENOSPC // the filesystem is full: nothing copied
		}
		return unix.Pwritev2(fd, iovs, off, flags)
	}
	if err := b.WriteAt(make([]byte, 4096), 0, true); !errors.Is(err, unix.ENOSPC) {
		t.Fatalf("stable write on a full filesystem: %v, want ENOSPC", err)
	}
	full = false // the administrator frees space
	if err := b.WriteAt(make([]byte, 4096), 0, false); err != nil {
		t.Fatalf("cached write after space was freed: %v", err)
	}
	if err := b.Sync(); err != nil {
		t.Errorf("Sync after space was freed, nothing lost: %v (sticky for the life of the process)", err)
	}
}

// TestStableWriteErrorAfterPartIsSticky: an error after the store accepted part of
// a stable write may come from the range sync, which consumed the writeback error,
// so it stays sticky even when it is ENOSPC; EIO always does.
func TestStableWriteErrorAfterPartIsSticky(t *testing.T) {
	for _, tc := range []struct {
		name  string
		part  bool
		errno error
	}{
		{"ENOSPC after part", true, unix.ENOSPC},
		{"EIO at once", false, unix.EIO},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := openPath(t, filepath.Join(t.TempDir(), "p.img"), 1<<20).(*fdBackend)
			calls := 0
			b.pwritev2 = func(fd int, iovs [][]byte, off int64, flags int) (int, error) {
				calls++
				if tc.part && calls == 1 {
					return unix.Pwritev2(fd, [][]byte{iovs[0][:512]}, off, flags)
				}
				return 0, tc.errno
			}
			if err := b.WriteAt(make([]byte, 4096), 0, true); !errors.Is(err, tc.errno) {
				t.Fatalf("stable write: %v, want %v", err, tc.errno)
			}
			b.datasync = func(int) error { return nil }
			if err := b.Sync(); !errors.Is(err, tc.errno) {
				t.Errorf("Sync after the failed stable write: %v, want the sticky %v", err, tc.errno)
			}
		})
	}
}

// TestConsumedWriteback: which failed stable writes keep their error for Sync.
func TestConsumedWriteback(t *testing.T) {
	for _, tc := range []struct {
		err      error
		accepted bool
		want     bool
	}{
		{unix.EIO, false, true},
		{unix.ENOSPC, false, false},
		{unix.EDQUOT, false, false},
		{unix.EFBIG, false, false},
		{unix.EROFS, false, false},
		{unix.ENOSPC, true, true},
		{unix.EINVAL, false, true}, // unknown: may have come from the range sync
		{io.ErrShortWrite, true, true},
		{&rmwReadError{unix.EIO}, false, false}, // O_DIRECT read-modify-write: a read
	} {
		if got := consumedWriteback(fmt.Errorf("wrapped: %w", tc.err), tc.accepted); got != tc.want {
			t.Errorf("consumedWriteback(%v, accepted %v) = %v, want %v", tc.err, tc.accepted, got, tc.want)
		}
	}
}
