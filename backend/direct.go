package backend

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// O_DIRECT support. With Options.Direct the descriptor is opened with
// O_DIRECT, so data bypasses the page cache; the kernel then requires the
// buffer address, the file offset and the length of every read and write
// to be aligned. Callers pass arbitrary Go slices at arbitrary offsets, so
// every transfer is copied through an aligned bounce buffer covering the
// aligned range around the request; a write that does not cover whole
// aligned blocks reads the edge blocks first (read-modify-write).
//
// O_DIRECT bypasses the page cache but not the device's volatile write
// cache, so durability is unchanged: stable writes still use RWF_DSYNC and
// Sync is still fdatasync.

const (
	// directMemAlign is the minimum alignment of bounce buffers in memory.
	directMemAlign = 4096
	// directChunk is the largest single transfer through a bounce buffer.
	directChunk = 1 << 20
)

// directIO is the O_DIRECT state of an fdBackend.
type directIO struct {
	// align is the offset and length alignment (a power of two).
	align int64
	// memAlign is the buffer address alignment (a power of two).
	memAlign int
	// rmw orders read-modify-write against other writes: a write that
	// covers whole aligned blocks holds it shared, one that must merge
	// partial blocks holds it exclusively, so no concurrent write to the
	// same block is lost by writing back stale edge bytes.
	rmw sync.RWMutex
	// bufs pools directChunk-sized aligned bounce buffers.
	bufs sync.Pool
}

// newDirectIO returns the O_DIRECT state for the given alignments; both
// are raised to at least 512 and directMemAlign respectively and must be
// powers of two.
func newDirectIO(align int64, memAlign int) (*directIO, error) {
	align = max(align, 512)
	memAlign = max(memAlign, directMemAlign)
	if align&(align-1) != 0 || memAlign&(memAlign-1) != 0 || align > directChunk {
		return nil, fmt.Errorf("unusable O_DIRECT alignment %d/%d", align, memAlign)
	}
	d := &directIO{align: align, memAlign: memAlign}
	d.bufs.New = func() any { b := alignedBuffer(directChunk, d.memAlign); return &b }
	return d, nil
}

// alignedBuffer returns an n-byte slice whose first byte is aligned to
// align (a power of two). The Go heap does not move objects, so the
// address stays aligned for the slice's lifetime.
func alignedBuffer(n, align int) []byte {
	raw := make([]byte, n+align)
	skip := (align - int(uintptr(unsafe.Pointer(&raw[0]))&uintptr(align-1))) & (align - 1)
	return raw[skip : skip+n : skip+n]
}

// isAligned reports whether p starts at an address aligned to align.
func isAligned(p []byte, align int) bool {
	return len(p) == 0 || uintptr(unsafe.Pointer(&p[0]))&uintptr(align-1) == 0
}

// directAlignmentOf is directAlignment; tests replace it to meet an alignment
// that the machine's filesystem does not have.
var directAlignmentOf = directAlignment

// directAlignment finds the O_DIRECT alignment of an opened regular file
// from statx (STATX_DIOALIGN), falling back to 4096 where the kernel or
// filesystem does not report it. A filesystem that reports no O_DIRECT
// support is refused.
func directAlignment(f *os.File, path string) (int64, int, error) {
	var stx unix.Statx_t
	err := unix.Statx(int(f.Fd()), "", unix.AT_EMPTY_PATH, unix.STATX_DIOALIGN, &stx)
	if err != nil || stx.Mask&unix.STATX_DIOALIGN == 0 {
		return 4096, directMemAlign, nil
	}
	if stx.Dio_offset_align == 0 {
		return 0, 0, pathErr("open", path, errors.New("O_DIRECT is not supported by this filesystem"))
	}
	return int64(stx.Dio_offset_align), int(stx.Dio_mem_align), nil
}

// enableDirect switches b to aligned O_DIRECT transfers; the size must be
// a multiple of the alignment, since an aligned write at the end would
// otherwise extend the file.
func (b *fdBackend) enableDirect(align int64, memAlign int) error {
	d, err := newDirectIO(align, memAlign)
	if err != nil {
		return pathErr("open", b.path, err)
	}
	if b.size.Load()%d.align != 0 {
		return pathErr("open", b.path, fmt.Errorf(
			"O_DIRECT needs a size that is a multiple of %d bytes, have %d", d.align, b.size.Load()))
	}
	b.direct = d
	return nil
}

// checkSharedDirect refuses a writable store opened Shared with O_DIRECT whose
// logical block size (o.BlockSize, 512 when 0) is below the O_DIRECT alignment:
// a write of one logical block would then be a read-modify-write of the aligned
// block around it, which directIO.rmw orders only within this process, so two
// gateways writing neighbouring blocks could each write back the other's stale
// bytes and lose an acknowledged write.
func checkSharedDirect(o Options, align int64) error {
	bs := int64(o.BlockSize)
	if bs == 0 {
		bs = 512
	}
	if !o.Shared || o.ReadOnly || bs >= align {
		return nil
	}
	return pathErr("open", o.Path, fmt.Errorf("directIo (ioPolicy direct) on a store shared by several "+
		"gateways needs blockSize of at least the O_DIRECT alignment: blockSize %d is below the alignment %d "+
		"(a partial aligned block's read-modify-write is not ordered across processes); use blockSize %d "+
		"or no directIo", bs, align, align))
}

// directOpenErr turns EINVAL from open(O_DIRECT) into a clear error.
func directOpenErr(path string, err error) error {
	err = unwrapPath(err)
	if errors.Is(err, unix.EINVAL) {
		return pathErr("open", path, fmt.Errorf("O_DIRECT refused by the filesystem (%w)", err))
	}
	return pathErr("open", path, err)
}

// span returns the aligned range [start, end) around [off, off+n).
func (d *directIO) span(off, n int64) (start, end int64) {
	return off &^ (d.align - 1), (off + n + d.align - 1) &^ (d.align - 1)
}

// getBuf takes a bounce buffer from the pool.
func (d *directIO) getBuf() *[]byte { return d.bufs.Get().(*[]byte) }

// directRead fills p from off through aligned bounce buffers; bytes past
// the end of a file shorter than expected read as zeros.
func (b *fdBackend) directRead(p []byte, off int64) (int, error) {
	d := b.direct
	bp := d.getBuf()
	defer d.bufs.Put(bp)
	start, end := d.span(off, int64(len(p)))
	for cs := start; cs < end; cs += directChunk {
		ce := min(cs+directChunk, end)
		buf := (*bp)[:ce-cs]
		if err := b.readAligned(buf, cs); err != nil {
			return 0, err
		}
		ps, pe := max(off, cs), min(off+int64(len(p)), ce)
		copy(p[ps-off:pe-off], buf[ps-cs:pe-cs])
	}
	return len(p), nil
}

// readAligned reads an aligned buffer at an aligned offset, zero-filling
// past the end of the file (failing past a block device's: pastEnd).
func (b *fdBackend) readAligned(buf []byte, off int64) error {
	n, err := b.f.ReadAt(buf, off)
	if err == io.EOF && b.pastEnd != nil {
		return b.opErr("read", b.pastEnd())
	}
	if err == io.EOF {
		clear(buf[n:])
		return nil
	}
	return b.opErr("read", err)
}

// directWrite writes p at off through aligned bounce buffers: with pwrite, or,
// given a stable write's description sd, with pwritev2(RWF_DSYNC) on it. Edge
// blocks the request covers only partly are read first and merged. The error is
// unwrapped (an errno or ErrClosed; a failed read of an edge block as an
// rmwReadError) so writeStable can classify it; callers wrap it.
func (b *fdBackend) directWrite(p []byte, off int64, sd *syncFD) error {
	d := b.direct
	start, end := d.span(off, int64(len(p)))
	if start == off && end == off+int64(len(p)) {
		d.rmw.RLock()
		defer d.rmw.RUnlock()
	} else {
		d.rmw.Lock()
		defer d.rmw.Unlock()
	}
	bp := d.getBuf()
	defer d.bufs.Put(bp)
	for cs := start; cs < end; cs += directChunk {
		ce := min(cs+directChunk, end)
		buf := (*bp)[:ce-cs]
		ps, pe := max(off, cs), min(off+int64(len(p)), ce)
		if ps > cs {
			if err := b.readAligned(buf[:d.align], cs); err != nil {
				return &rmwReadError{unwrapPath(err)}
			}
		}
		if pe < ce && !(ps > cs && ce-cs == d.align) { // not the head block again
			if err := b.readAligned(buf[ce-cs-d.align:], ce-d.align); err != nil {
				return &rmwReadError{unwrapPath(err)}
			}
		}
		copy(buf[ps-cs:], p[ps-off:pe-off])
		if err := b.writeAligned(buf, cs, sd); err != nil {
			return err
		}
	}
	return nil
}

// writeAligned writes an aligned buffer at an aligned offset with pwrite, or
// with pwritev2(RWF_DSYNC) on d for a stable write, continuing after short
// writes.
func (b *fdBackend) writeAligned(buf []byte, off int64, d *syncFD) error {
	write := func(fd int) error {
		for len(buf) > 0 {
			var n int
			var err error
			if d == nil {
				n, err = unix.Pwrite(fd, buf, off)
			} else {
				n, err = b.pwritev2(fd, [][]byte{buf}, off, unix.RWF_DSYNC)
			}
			if err != nil {
				return err
			}
			if n <= 0 || int64(n)%b.direct.align != 0 {
				return io.ErrShortWrite
			}
			if d != nil {
				d.accepted = true
			}
			buf, off = buf[n:], off+int64(n)
		}
		return nil
	}
	if d == nil {
		return b.control(write)
	}
	return b.controlOn(d, write)
}
