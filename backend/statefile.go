package backend

import (
	"errors"
	"fmt"
	iofs "io/fs"
	"os"
	"path/filepath"
)

// WriteFileAtomic replaces path with data atomically and durably: a
// temporary file in the same directory is written and fsynced, renamed over
// path, and the directory fsynced, so after a crash path holds either the
// old or the new content, never a mix, and once it returns the new content
// survives a power loss. If the directory fsync fails after the rename, the
// old content (or no file, if there was none) is put back before the error is
// returned, so that a failed save leaves what the next start loads unchanged;
// if putting it back fails, the error says so and path keeps the new content.
// It blocks on the disk: IO workers call it, never an
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
	// ReadFile reads a whole file (the old content, kept to be put back).
	ReadFile(name string) ([]byte, error)
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
	// The old content is kept so that a save whose directory sync fails can put it
	// back: by then the rename has replaced path in the namespace, and the next
	// start (no power loss needed) would load the values the caller was told were
	// not saved.
	old, err := fs.ReadFile(path)
	hadOld := err == nil
	if err != nil && !errors.Is(err, iofs.ErrNotExist) {
		return fmt.Errorf("read %s before replacing it: %w", path, err)
	}
	dir := filepath.Dir(path)
	tmpName, err := writeTemp(fs, path, data)
	if err != nil {
		return err
	}
	if err := fs.Rename(tmpName, path); err != nil {
		fs.Remove(tmpName)
		return err
	}
	serr := syncDir(fs, dir)
	if serr == nil {
		return nil
	}
	// Put the old content (or no file) back in the namespace, and try to make
	// that durable too. A power loss before that sync may still leave either.
	var rerr error
	if hadOld {
		var back string
		if back, rerr = writeTemp(fs, path, old); rerr == nil {
			if rerr = fs.Rename(back, path); rerr != nil {
				fs.Remove(back)
			}
		}
	} else {
		rerr = fs.Remove(path)
	}
	if rerr != nil {
		return fmt.Errorf("%w; the new content stays in %s (putting the old back failed: %v)", serr, path, rerr)
	}
	if err := syncDir(fs, dir); err != nil {
		return fmt.Errorf("%w; the old content is back in %s, but its directory sync failed too (%v): "+
			"after a power loss %s may hold either", serr, path, err, path)
	}
	return fmt.Errorf("%w (the old content of %s was put back)", serr, path)
}

// writeTemp writes data to a new, fsynced and closed temporary file next to path
// and returns its name; on failure it removes the file.
func writeTemp(fs stateFS, path string, data []byte) (string, error) {
	tmp, err := fs.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return "", err
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
		return "", err
	}
	if err := tmp.Sync(); err != nil {
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	ok = true
	return tmpName, nil
}

// syncDir fsyncs dir, making its entries (a rename) durable.
func syncDir(fs stateFS, dir string) error {
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

func (osStateFS) ReadFile(name string) ([]byte, error) { return os.ReadFile(name) }

func (osStateFS) OpenDir(dir string) (stateFile, error) { return os.Open(dir) }
