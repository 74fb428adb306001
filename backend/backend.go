// Package backend is the storage behind a LUN: regular files, block devices
// and memory. A LUN's IO workers call a Backend from several goroutines at
// once, so every implementation is safe for concurrent use and does only
// positional IO (pread/pwrite style); there is no shared file offset.
//
// Durability follows a disk with a write cache: WriteAt with stable=false
// may leave data in the page cache; WriteAt with stable=true makes just that
// range durable before it returns (pwritev2 with RWF_DSYNC, never a
// whole-file fsync per write); Sync makes everything written before it
// durable (fdatasync).
package backend

import (
	"errors"
	"io/fs"
)

// Backend is the small interface a LUN's IO workers use. All methods are
// safe for concurrent use.
type Backend interface {
	// ReadAt fills p from offset off. The whole range must lie within
	// Size(); a hole or a short file inside that range reads as zeros.
	// On success it returns len(p), nil.
	ReadAt(p []byte, off int64) (int, error)
	// WriteAt writes p at off. With stable=true the data is durable before
	// WriteAt returns (only that range is synced).
	WriteAt(p []byte, off int64, stable bool) error
	// Size is the capacity in bytes, fixed when the backend is opened.
	Size() int64
	// Sync makes every write that completed before it durable. Once a
	// sync has failed, every later Sync fails too with that first error:
	// the kernel reports a writeback error only once.
	Sync() error
	// Unmap deallocates a range; it reads back as zeros afterwards on files
	// and memory (block devices: see the block device notes).
	Unmap(off, length int64) error
	// Close releases the backend; later calls fail with ErrClosed.
	Close() error
}

// Resizer is implemented by backends whose capacity an administrator may change
// while they serve (regular files, memory): the LUN then reports the new capacity.
// Wrappers hide it; the target resizes the backend it opened.
type Resizer interface {
	Resize(size int64) error
}

// BlockSizer is implemented by backends that know the logical block size of
// the device under them (block devices), so the LUN can refuse a block size
// the device cannot address and align UNMAP ranges.
type BlockSizer interface {
	LogicalBlockSize() int
}

// Options for opening a file or block device with Open.
type Options struct {
	// Path of a regular file or block device (symlinks are followed).
	Path string
	// Size, for regular files, creates the file sparse or extends it to
	// this many bytes if it is larger than the file; an existing larger
	// file is never truncated and keeps its size. 0 uses the existing
	// size. Ignored for block devices (size from BLKGETSIZE64).
	Size int64
	// Create creates the regular file if it is missing (not its parent
	// directories).
	Create bool
	// ReadOnly opens the backing store read-only; writes and unmaps fail
	// with ErrReadOnly.
	ReadOnly bool
	// Preallocate allocates every byte of a regular file (fallocate) when it
	// is opened, for a fully provisioned ("thick") LUN whose writes can
	// never fail for lack of space. Ignored for block devices, and where the
	// filesystem cannot preallocate.
	Preallocate bool
	// Direct opens the store with O_DIRECT, bypassing the page cache. Every
	// transfer is then copied through aligned bounce buffers (partial
	// blocks by read-modify-write), so callers may still pass any slice
	// and offset. Durability is unchanged: O_DIRECT skips the page cache
	// but not the device's volatile cache, so stable writes still use
	// RWF_DSYNC and Sync is still fdatasync. A regular file's size must be
	// a multiple of the filesystem's O_DIRECT alignment; a filesystem that
	// refuses O_DIRECT makes Open fail with an error naming the path.
	Direct bool
	// Shared takes a shared (read) lock on the store even when it is writable: for
	// stores that several atgtd processes serve on purpose (gateway nodes on one
	// machine's file, benchmarks). Sharers coexist with each other and with
	// read-only openers, never with an exclusive writer (lockStore).
	Shared bool
	// BlockSize is the logical block size the store is served with (0: 512). With
	// Direct and Shared on a writable regular file, Open refuses a BlockSize below
	// the filesystem's O_DIRECT alignment: the read-modify-write of a partial
	// aligned block is ordered only within one process, so two processes writing
	// neighbouring blocks could lose a write. (A block device's alignment is its
	// logical block size, to which the LUN's block size is raised anyway.)
	BlockSize int
}

// Errors callers test with errors.Is; returned errors wrap them together
// with the path and operation (*fs.PathError).
var (
	// ErrReadOnly: a write or unmap on a backend opened read-only.
	ErrReadOnly = errors.New("backend is read-only")
	// ErrOutOfRange: an IO range outside [0, Size()); the SCSI layer checks
	// ranges first, this is the defensive second check.
	ErrOutOfRange = errors.New("range outside backend size")
	// ErrClosed: a call after Close.
	ErrClosed = fs.ErrClosed
	// ErrUnsupported: Open was given something that is neither a regular
	// file nor a block device.
	ErrUnsupported = errors.New("not a regular file or block device")
)

// pathErr wraps err with the operation and path so a log line names both.
func pathErr(op, path string, err error) error {
	if err == nil {
		return nil
	}
	return &fs.PathError{Op: "backend " + op, Path: path, Err: err}
}

// checkRange reports whether [off, off+n) lies within size, guarding
// against negative values and overflow.
func checkRange(off, n, size int64) error {
	if off < 0 || n < 0 || off > size || n > size-off {
		return ErrOutOfRange
	}
	return nil
}
