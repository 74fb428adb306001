package backend

import (
	"fmt"
	"os"
	"path/filepath"
)

// WriteFileAtomic replaces path with data atomically and durably: a
// temporary file in the same directory is written and fsynced, renamed over
// path, and the directory fsynced, so after a crash path holds either the
// old or the new content, never a mix, and once it returns the new content
// survives a power loss. It blocks on the disk: IO workers call it, never an
// actor's message loop. Callers serialise writes to the same path.
func WriteFileAtomic(path string, data []byte) error {
	return writeFileAtomic(osStateFS{}, path, data)
}

// stateFS is the part of the file system WriteFileAtomic uses. It exists so
// that a test can model a power loss (page cache gone) after each call and
// check that both fsyncs are there, in the right places: both Sync calls are
// made here, on what stateFS returns, so the real one has none to lose.
type stateFS interface {
	CreateTemp(dir, pattern string) (stateFile, error)
	Rename(oldpath, newpath string) error
	Remove(name string) error
	// OpenDir opens dir, whose Sync makes its entries (the rename) durable.
	OpenDir(dir string) (stateFile, error)
}

// stateFile is the temporary file WriteFileAtomic writes, or its directory.
type stateFile interface {
	Name() string
	Write(p []byte) (int, error)
	Sync() error
	Close() error
}

func writeFileAtomic(fs stateFS, path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := fs.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmpName := tmp.Name()
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			fs.Remove(tmpName)
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := fs.Rename(tmpName, path); err != nil {
		return err
	}
	ok = true
	d, err := fs.OpenDir(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// osStateFS is stateFS on the real file system.
type osStateFS struct{}

func (osStateFS) CreateTemp(dir, pattern string) (stateFile, error) {
	return os.CreateTemp(dir, pattern)
}

func (osStateFS) Rename(oldpath, newpath string) error { return os.Rename(oldpath, newpath) }

func (osStateFS) Remove(name string) error { return os.Remove(name) }

func (osStateFS) OpenDir(dir string) (stateFile, error) { return os.Open(dir) }
