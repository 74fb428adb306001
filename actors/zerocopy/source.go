package zerocopy

import (
	"errors"
	"os"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// MinLength is the smallest READ sent from the page cache. Below it the copy is
// cheap and a buffer lets many Data-In PDUs share one writev; at and above it the
// copy dominates the target's CPU time.
const MinLength = 64 << 10

// Source is one LUN's backing file as the connections' writers send from it.
type Source struct {
	id   uint64
	f    *os.File
	rc   syscall.RawConn
	size int64
	// mapping is a read-only shared mapping of the file, never touched: mincore on
	// it tells which pages are in the page cache.
	mapping []byte
	// sent is called once per zero-copy READ when it is on the wire or dropped.
	sent   func()
	closed atomic.Bool
}

// NewSource maps f (size bytes) for residency checks. sent is called once for each
// READ answered through the source, after its data is sent or the send is dropped;
// it must not block.
func NewSource(f *os.File, size int64, sent func()) (*Source, error) {
	if size <= 0 {
		return nil, errors.New("zerocopy: empty file")
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	var mapping []byte
	var mapErr error
	if err := rc.Control(func(fd uintptr) {
		mapping, mapErr = unix.Mmap(int(fd), 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
	}); err != nil {
		return nil, err
	}
	if mapErr != nil {
		return nil, &os.PathError{Op: "zerocopy mmap", Path: f.Name(), Err: mapErr}
	}
	s := &Source{f: f, rc: rc, size: size, mapping: mapping, sent: sent}
	s.id = sources.add(s)
	return s, nil
}

// LookupSource returns the source with id, or nil if it is closed.
func LookupSource(id uint64) *Source { return sources.get(id) }

// ID names the source in a ScsiCompletion.
func (s *Source) ID() uint64 { return s.id }

// pageSize is the unit mincore reports in.
var pageSize = int64(os.Getpagesize())

// Resident reports whether every page of [off, off+n) is in the page cache, so
// that sendfile will not wait for the disk. mincore reports the page cache for a
// file the caller may write to (or owns, or as root); otherwise it reports
// nothing cached, and the data is read with ReadAt.
func (s *Source) Resident(off, n int64) bool {
	if s.closed.Load() || off < 0 || n <= 0 || off > s.size || n > s.size-off {
		return false
	}
	start := off &^ (pageSize - 1)
	end := off + n
	var vec [64]byte
	for start < end {
		chunk := min(end-start, int64(len(vec))*pageSize)
		pages := (chunk + pageSize - 1) / pageSize
		if !mincore(s.mapping[start:start+chunk], vec[:pages]) {
			return false
		}
		for _, v := range vec[:pages] {
			if v&1 == 0 {
				return false
			}
		}
		start += chunk
	}
	return true
}

// Close stops new sends through the source and unmaps the file. Sends under way
// finish: os.File keeps the descriptor open until they return. A residency check
// racing with Close only asks mincore about an unmapped range, which fails (the
// READ is then copied); it never touches the memory.
func (s *Source) Close() {
	if s.closed.Swap(true) {
		return
	}
	sources.remove(s.id)
	_ = unix.Munmap(s.mapping)
}

// mincore fills vec with the residency of b's pages (bit 0 set: in the page cache).
func mincore(b []byte, vec []byte) bool {
	_, _, e := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), uintptr(unsafe.Pointer(&vec[0])))
	return e == 0
}
