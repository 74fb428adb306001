package backend

import (
	"errors"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestENOSPCDoesNotPoisonSync: a stable write (FUA or WCE=0) that is
// refused for lack of space wrote nothing and consumed no writeback error (the
// kernel runs the range sync only after a successful copy), yet it is recorded as
// the sticky durability error: every later Sync (SYNCHRONIZE CACHE) fails for the
// life of the process, also after space was freed and although nothing was lost.
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
