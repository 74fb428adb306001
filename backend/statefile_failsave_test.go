package backend

import (
	"errors"
	"testing"
)

// dirSyncFails is powerFS whose directory fsyncs fail (EIO from the directory's
// writeback): the first fails times of them, or all when fails is negative.
type dirSyncFails struct {
	*powerFS
	fails *int
}

type failingDir struct {
	*powerFile
	fails *int
}

func (d failingDir) Sync() error {
	if *d.fails == 0 {
		return d.powerFile.Sync()
	}
	*d.fails--
	d.fs.op("fsync dir failed")
	return errors.New("EIO")
}

func (fs dirSyncFails) OpenDir(dir string) (stateFile, error) {
	f, _ := fs.powerFS.OpenDir(dir)
	return failingDir{f.(*powerFile), fs.fails}, nil
}

// README "Durability": "a save that fails (HARDWARE ERROR) leaves the current and
// saved values as they were". When the directory fsync fails after the rename, the
// save is reported failed and the old content (or no file) is put back, so the next
// start (no power loss needed) does not load the values the initiator was told were
// not saved; a power loss at any point leaves the old or the new content, whole.
func TestFailedSaveLeavesOldFile(t *testing.T) {
	const path = "/state/t-lun0.modes.json"
	for _, tc := range []struct {
		name  string
		old   *string
		fails int // directory fsyncs that fail; -1: all
	}{
		{"replace, restore synced", ptr("old"), 1},
		{"replace, every dir sync fails", ptr("old"), -1},
		{"create, restore synced", nil, 1},
		{"create, every dir sync fails", nil, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := map[string]string{}
			if tc.old != nil {
				files[path] = *tc.old
			}
			fs := newPowerFS(files)
			fails := tc.fails
			err := writeFileAtomic(dirSyncFails{fs, &fails}, path, []byte("new"))
			if err == nil {
				t.Fatal("a failed directory fsync was not reported")
			}
			ino, present := fs.names[path]
			switch {
			case tc.old != nil && (!present || fs.data[ino] != *tc.old):
				t.Fatalf("save failed (%v), yet %s now reads %q (present %v; a restart loads it), want %q",
					err, path, fs.data[ino], present, *tc.old)
			case tc.old == nil && present:
				t.Fatalf("save failed (%v), yet %s now exists with %q (a restart loads it)", err, path, fs.data[ino])
			}
			if want := len(files); len(fs.names) != want {
				t.Errorf("names left %v, want only the old file", fs.names)
			}
			for i, disk := range fs.disks {
				got, ok := disk[path]
				switch {
				case ok && got == "new", tc.old != nil && ok && got == *tc.old, tc.old == nil && !ok:
				default:
					t.Errorf("power loss after %s: %s holds %q (present %v), want the old or the new content",
						fs.ops[i], path, got, ok)
				}
			}
			if last := fs.disks[len(fs.disks)-1]; tc.fails > 0 {
				if got, ok := last[path]; (tc.old != nil && got != *tc.old) || (tc.old == nil && ok) {
					t.Errorf("restore's directory sync succeeded, yet a power loss now leaves %q (present %v)", got, ok)
				}
			}
		})
	}
}
