package backend

import "os"

// FileSender is implemented by backends whose bytes are one file read through the
// page cache, so that a connection may send a READ's data with sendfile(2) straight
// from the page cache instead of copying it through a buffer (actors/zerocopy).
// Wrappers (counters, fault injection) do not implement it, so a wrapped backend is
// always read with ReadAt.
type FileSender interface {
	// SendFile returns the file to send from, or nil when its data must be read
	// with ReadAt (O_DIRECT, which bypasses the page cache, or after Close).
	SendFile() *os.File
}

// SendFile returns the descriptor's file unless it is opened with O_DIRECT or
// closed. os.File counts references on its descriptor, so a Close while a send
// is under way cannot make the sender use a reused descriptor number.
func (b *fdBackend) SendFile() *os.File {
	if b.direct != nil || b.closed.Load() {
		return nil
	}
	return b.f
}
