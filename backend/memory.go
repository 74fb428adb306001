package backend

import (
	"errors"
	"sync"
)

// memPath names the memory backend in errors.
const memPath = "memory"

// memory is a RAM disk for tests; a RWMutex is fine here, it is not a data
// path anyone measures.
type memory struct {
	mu     sync.RWMutex
	data   []byte
	closed bool
}

// NewMemory returns a zero-filled, concurrency-safe backend of size bytes,
// so tests can exercise a LUN without touching a filesystem. Writes are
// trivially durable; Sync and stable writes only check state.
func NewMemory(size int64) Backend {
	if size < 0 {
		size = 0
	}
	return &memory{data: make([]byte, size)}
}

// check validates state and range under the lock.
func (m *memory) check(op string, off, n int64) error {
	if m.closed {
		return pathErr(op, memPath, ErrClosed)
	}
	return pathErr(op, memPath, checkRange(off, n, int64(len(m.data))))
}

// ReadAt copies out of the buffer.
func (m *memory) ReadAt(p []byte, off int64) (int, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if err := m.check("read", off, int64(len(p))); err != nil {
		return 0, err
	}
	return copy(p, m.data[off:]), nil
}

// WriteAt copies into the buffer; stable is meaningless in RAM.
func (m *memory) WriteAt(p []byte, off int64, stable bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check("write", off, int64(len(p))); err != nil {
		return err
	}
	copy(m.data[off:], p)
	return nil
}

// Size is the buffer length.
func (m *memory) Size() int64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return int64(len(m.data))
}

// Sync has nothing to flush.
func (m *memory) Sync() error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.check("sync", 0, 0)
}

// Unmap zeroes the range.
func (m *memory) Unmap(off, length int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check("unmap", off, length); err != nil {
		return err
	}
	clear(m.data[off : off+length])
	return nil
}

// Close drops the buffer.
func (m *memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return pathErr("close", memPath, ErrClosed)
	}
	m.closed, m.data = true, nil
	return nil
}

// Resize grows (with zeros) or shrinks the buffer.
func (m *memory) Resize(size int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return pathErr("resize", memPath, ErrClosed)
	}
	if size <= 0 {
		return pathErr("resize", memPath, errors.New("bad size"))
	}
	if size <= int64(len(m.data)) {
		m.data = m.data[:size:size]
		return nil
	}
	grown := make([]byte, size)
	copy(grown, m.data)
	m.data = grown
	return nil
}
