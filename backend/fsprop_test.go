package backend

import (
	"fmt"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// fsNames are the statfs magic numbers of the file systems a test directory is
// likely on.
var fsNames = map[int64]string{
	unix.EXT4_SUPER_MAGIC:      "ext2/3/4",
	unix.TMPFS_MAGIC:           "tmpfs",
	unix.XFS_SUPER_MAGIC:       "xfs",
	unix.BTRFS_SUPER_MAGIC:     "btrfs",
	unix.OVERLAYFS_SUPER_MAGIC: "overlayfs",
	unix.NFS_SUPER_MAGIC:       "nfs",
	unix.FUSE_SUPER_MAGIC:      "fuse",
}

// fsOf names the file system holding path (its directory), for a failure message.
func fsOf(path string) string {
	var st unix.Statfs_t
	if err := unix.Statfs(filepath.Dir(path), &st); err != nil {
		return fmt.Sprintf("statfs: %v", err)
	}
	if n, ok := fsNames[int64(st.Type)]; ok {
		return fmt.Sprintf("%s, magic %#x", n, st.Type)
	}
	return fmt.Sprintf("magic %#x", st.Type)
}

// needFSProperty fails t (never skips: a skipped test would hide that the
// feature went untested) because the file system under path lacks property,
// which the test needs; it says how to give the tests one that has it.
func needFSProperty(t *testing.T, path, property string, err error) {
	t.Helper()
	t.Fatalf("the file system of %s (%s) refused %s, which this test exercises: run the tests with TMPDIR on one "+
		"that has it (ext4 and xfs have O_DIRECT and hole punching; tmpfs has O_DIRECT since Linux 6.6): %v",
		filepath.Dir(path), fsOf(path), property, err)
}
