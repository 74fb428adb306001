package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/atgt/atgt/backend"
	pb "github.com/atgt/atgt/messages/atgtv1"
)

// chunkSize is the overlay's unit: a write to part of a chunk first copies the rest of
// the chunk from the base file.
const chunkSize = 4096

// cow is a copy-on-write overlay over a base file, as a backend.Backend: reads fall
// through to the base file for chunks never written, writes go to memory, and the base
// file, opened read-only, is never modified. The overlay is volatile by design (a
// scratch disk over a golden image): it lives as long as the process, so Sync and
// stable writes have nothing to make durable. It grows with what is written, up to the
// LUN's size.
//
// IO workers call it concurrently: mu guards the overlay; the base file is read with
// positional reads, which need no lock.
type cow struct {
	base     *os.File
	baseSize int64
	size     int64
	mu       sync.RWMutex
	// chunks are the written chunks by index; a nil chunk was unmapped and reads
	// as zeros.
	chunks map[int64][]byte
	closed bool
}

// newCOW is the example's backend.Backend factory (target.BackendFactory): it serves
// the LUN's path as the base file, size_bytes large (0: the base file's size; bytes
// past the base file's end read as zeros until written).
func newCOW(l *pb.Lun) (backend.Backend, error) {
	if l.Path == "" {
		return nil, errors.New("a copy-on-write LUN needs the base file as its path")
	}
	f, err := os.Open(l.Path) // read-only: the base is never written
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s: the base is not a regular file", l.Path)
	}
	size := int64(l.SizeBytes)
	if size == 0 {
		size = fi.Size()
	}
	return &cow{base: f, baseSize: fi.Size(), size: size, chunks: map[int64][]byte{}}, nil
}

// check refuses a range outside the backend or a call after Close.
func (c *cow) check(off, n int64) error {
	if c.closed {
		return backend.ErrClosed
	}
	if off < 0 || n < 0 || off > c.size || n > c.size-off {
		return backend.ErrOutOfRange
	}
	return nil
}

// readBase fills p from the base file at off; past its end p reads as zeros.
func (c *cow) readBase(p []byte, off int64) error {
	clear(p)
	if off >= c.baseSize {
		return nil
	}
	n := min(int64(len(p)), c.baseSize-off)
	if _, err := c.base.ReadAt(p[:n], off); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

// ReadAt reads each chunk of the range from the overlay if it was written, else from
// the base file.
func (c *cow) ReadAt(p []byte, off int64) (int, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if err := c.check(off, int64(len(p))); err != nil {
		return 0, err
	}
	for done := 0; done < len(p); {
		at := off + int64(done)
		idx, in := at/chunkSize, at%chunkSize
		n := min(len(p)-done, int(chunkSize-in))
		part := p[done : done+n]
		if chunk, written := c.chunks[idx]; written {
			if chunk == nil {
				clear(part)
			} else {
				copy(part, chunk[in:])
			}
		} else if err := c.readBase(part, at); err != nil {
			return done, err
		}
		done += n
	}
	return len(p), nil
}

// WriteAt copies p into the overlay, filling a chunk it covers only in part from the
// base first. stable needs nothing more: the overlay is memory.
func (c *cow) WriteAt(p []byte, off int64, _ bool) error {
	return c.update(off, int64(len(p)), p)
}

// Unmap makes the range read as zeros: a whole chunk becomes the zero marker, a chunk
// covered in part is zeroed there.
func (c *cow) Unmap(off, length int64) error { return c.update(off, length, nil) }

// update writes data (nil: zeros) over [off, off+length) in the overlay, chunk by
// chunk, each copied from the base first unless it is written whole.
func (c *cow) update(off, length int64, data []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.check(off, length); err != nil {
		return err
	}
	for done := int64(0); done < length; {
		at := off + done
		idx, in := at/chunkSize, at%chunkSize
		n := min(length-done, chunkSize-in)
		done += n
		if data == nil && n == chunkSize {
			c.chunks[idx] = nil
			continue
		}
		chunk, written := c.chunks[idx]
		if chunk == nil {
			chunk = make([]byte, chunkSize) // zeros, as an unmapped chunk reads
			if !written && n < chunkSize {
				if err := c.readBase(chunk, idx*chunkSize); err != nil {
					return err
				}
			}
		}
		if data == nil {
			clear(chunk[in : in+n])
		} else {
			copy(chunk[in:], data[done-n:done])
		}
		c.chunks[idx] = chunk
	}
	return nil
}

// Size is the LUN's capacity.
func (c *cow) Size() int64 { return c.size }

// Sync has nothing to do: the overlay is volatile by design and the base is not
// written.
func (c *cow) Sync() error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return backend.ErrClosed
	}
	return nil
}

// Close drops the overlay and closes the base file.
func (c *cow) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return backend.ErrClosed
	}
	c.closed, c.chunks = true, nil
	return c.base.Close()
}
