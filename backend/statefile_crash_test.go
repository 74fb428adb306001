package backend

import (
	"errors"
	"fmt"
	iofs "io/fs"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// powerFS is a model of a file system with a page cache that a power loss empties,
// strict as POSIX allows: a file's data is durable only once the file is fsynced,
// and a directory's entries (creations, renames, removals) only once the
// directory is fsynced. It records each call and the disk as a power loss right
// after that call would leave it.
type powerFS struct {
	names, durableNames map[string]int // path -> inode, cached and on disk
	data, durableData   map[int]string // inode -> content, cached and on disk
	next                int
	ops                 []string
	disks               []map[string]string // after each op: path -> content a reboot finds
}

func newPowerFS(files map[string]string) *powerFS {
	fs := &powerFS{names: map[string]int{}, durableNames: map[string]int{}, data: map[int]string{}, durableData: map[int]string{}}
	for p, c := range files {
		fs.next++
		fs.names[p], fs.durableNames[p] = fs.next, fs.next
		fs.data[fs.next], fs.durableData[fs.next] = c, c
	}
	return fs
}

// op records a call and the disk a power loss right after it would leave.
func (fs *powerFS) op(s string) {
	fs.ops = append(fs.ops, s)
	disk := map[string]string{}
	for p, ino := range fs.durableNames {
		disk[p] = fs.durableData[ino] // an inode never synced reads as empty
	}
	fs.disks = append(fs.disks, disk)
}

func (fs *powerFS) CreateTemp(dir, pattern string) (stateFile, error) {
	fs.next++
	name := filepath.Join(dir, strings.Replace(pattern, "*", fmt.Sprint(fs.next), 1))
	fs.names[name] = fs.next
	fs.data[fs.next] = ""
	fs.op("create temp")
	return &powerFile{fs: fs, name: name, ino: fs.next}, nil
}

func (fs *powerFS) Rename(oldpath, newpath string) error {
	ino, ok := fs.names[oldpath]
	if !ok {
		return errors.New("no such file")
	}
	delete(fs.names, oldpath)
	fs.names[newpath] = ino
	fs.op("rename")
	return nil
}

func (fs *powerFS) Remove(name string) error {
	delete(fs.names, name)
	fs.op("remove")
	return nil
}

func (fs *powerFS) OpenDir(dir string) (stateFile, error) {
	return &powerFile{fs: fs, name: dir, dir: true}, nil
}

type powerFile struct {
	fs   *powerFS
	name string
	ino  int
	dir  bool
}

func (f *powerFile) Name() string { return f.name }

func (f *powerFile) Write(p []byte) (int, error) {
	f.fs.data[f.ino] += string(p)
	f.fs.op("write file")
	return len(p), nil
}

func (f *powerFile) Sync() error {
	if f.dir {
		f.fs.durableNames = maps.Clone(f.fs.names)
		f.fs.op("fsync dir")
		return nil
	}
	f.fs.durableData[f.ino] = f.fs.data[f.ino]
	f.fs.op("fsync file")
	return nil
}

func (f *powerFile) Close() error {
	if f.dir {
		f.fs.op("close dir")
	} else {
		f.fs.op("close file")
	}
	return nil
}

// TestWriteFileAtomicPowerLoss: the APTPL reservation file and the saved mode pages
// go through WriteFileAtomic, which SPC-4 needs to survive a power loss. Against a
// model file system whose page cache a power loss empties, a power loss after any
// of its calls leaves the old content or the new (never an empty or missing file),
// and once it has returned, the new. Without the fsync of the temporary file the
// rename can reach the disk before the data (an empty file); without the fsync of
// the directory the acknowledged rename can be lost (the old content). The calls
// are also checked in order.
func TestWriteFileAtomicPowerLoss(t *testing.T) {
	const path = "/state/lun0.pr"
	for _, tc := range []struct {
		name string
		old  *string
	}{
		{name: "replace", old: ptr("old reservation state")},
		{name: "create", old: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := map[string]string{}
			if tc.old != nil {
				files[path] = *tc.old
			}
			fs := newPowerFS(files)
			const data = "new reservation state"
			if err := writeFileAtomic(fs, path, []byte(data)); err != nil {
				t.Fatal(err)
			}
			want := []string{"create temp", "write file", "fsync file", "close file", "rename", "fsync dir", "close dir"}
			if !slices.Equal(fs.ops, want) {
				t.Errorf("calls %q, want %q", fs.ops, want)
			}
			for i, disk := range fs.disks {
				got, ok := disk[path]
				switch {
				case i == len(fs.disks)-1 && (!ok || got != data):
					t.Errorf("power loss after it returned (last call %s): %s holds %q (present %v), want the new %q",
						fs.ops[i], path, got, ok, data)
				case ok && got == data, tc.old != nil && ok && got == *tc.old, tc.old == nil && !ok:
				default:
					t.Errorf("power loss after %s: %s holds %q (present %v), want the old or the new content",
						fs.ops[i], path, got, ok)
				}
			}
			if n := len(fs.names); n != 1 {
				t.Errorf("%d names left, want only %s: %v", n, path, fs.names)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// ReadFile reads the cached content; it changes nothing, so it is not recorded.
func (fs *powerFS) ReadFile(name string) ([]byte, error) {
	ino, ok := fs.names[name]
	if !ok {
		return nil, iofs.ErrNotExist
	}
	return []byte(fs.data[ino]), nil
}
