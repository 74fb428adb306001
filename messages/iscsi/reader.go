package iscsi

import (
	"errors"
	"io"
)

// Limits the reader enforces for the current connection phase.
type Limits struct {
	MaxRecvDataSegmentLength uint32 // largest data segment accepted
	HeaderDigest, DataDigest bool   // CRC32C digests negotiated
}

// LoginLimits is a small fixed cap used before and during login: the login data
// segment is bounded by the default MaxRecvDataSegmentLength of 8192 (RFC 7143
// section 13.12) and digests are only switched on once login completes.
var LoginLimits = Limits{MaxRecvDataSegmentLength: 8192}

// MinReaderBuffer is the smallest buffer NewReader uses: enough for a BHS, the largest
// AHS and a header digest, so a whole header always fits and is checked before use.
const MinReaderBuffer = 4096

// errBadRead reports an io.Reader that returned an impossible count.
var errBadRead = errors.New("iscsi: reader returned invalid count")

// Reader reads PDUs from a byte stream in large chunks: one read syscall can fill
// many small PDUs, and a large data segment is read straight into its own slice.
// It is not safe for concurrent use; one connection actor owns it.
type Reader struct {
	rd   io.Reader
	buf  []byte
	r, w int   // unread bytes are buf[r:w]
	err  error // error the last rd.Read returned with its data, reported once
	// alloc, if set, supplies the slice a data segment is read into.
	alloc func(h *BHS, n int) []byte
}

// SetDataAllocator makes the reader read each data segment into alloc(h, n), which
// must return a slice of length n: a connection uses it to read write data into
// pooled buffers that become the task's buffer, saving an allocation and a copy. n is
// already checked against the Limits. A nil alloc allocates a fresh slice.
func (r *Reader) SetDataAllocator(alloc func(h *BHS, n int) []byte) { r.alloc = alloc }

// NewReader returns a Reader over r with a bufSize-byte buffer (at least MinReaderBuffer).
func NewReader(r io.Reader, bufSize int) *Reader {
	if bufSize < MinReaderBuffer {
		bufSize = MinReaderBuffer
	}
	return &Reader{rd: r, buf: make([]byte, bufSize)}
}

// Grow gives the reader a buffer of n bytes if its own is smaller, keeping what is
// buffered: a connection reads its login through a small buffer and grows it for the
// full feature phase, so that a connection that never logs in costs little memory.
func (r *Reader) Grow(n int) {
	if n <= len(r.buf) {
		return
	}
	b := make([]byte, n)
	r.w = copy(b, r.buf[r.r:r.w])
	r.r = 0
	r.buf = b
}

// NewSmallReader returns a Reader over r with a buffer of only bufSize bytes (at
// least a BHS and a digest), for a connection that has not logged in yet: a header
// with a larger AHS grows the buffer as needed, and a data segment that does not fit
// is read straight into its own slice, as with any Reader. Grow it for the full
// feature phase.
func NewSmallReader(r io.Reader, bufSize int) *Reader {
	bufSize = max(bufSize, BHSLength+DigestLength)
	return &Reader{rd: r, buf: make([]byte, bufSize)}
}

// Buffered returns how many bytes are read from the stream but not yet returned as PDUs.
func (r *Reader) Buffered() int { return r.w - r.r }

// Ready reports whether a whole PDU (header, data, padding and the digests lim asks
// for) is buffered, so that Read returns it without touching the stream. A PDU whose
// data would be read straight from the stream is never Ready.
func (r *Reader) Ready(lim Limits) bool {
	if r.w-r.r < BHSLength {
		return false
	}
	h := r.buf[r.r:]
	n := BHSLength + int(h[4])*4
	dlen := int(h[5])<<16 | int(h[6])<<8 | int(h[7])
	n += dlen + padLen(dlen)
	if lim.HeaderDigest {
		n += DigestLength
	}
	if lim.DataDigest && dlen > 0 {
		n += DigestLength
	}
	return r.w-r.r >= n
}

// fill makes at least n (<= len(r.buf)) bytes available in buf[r:w]. A failure leaves
// what was buffered in place, so a header read that hit a deadline can be retried.
func (r *Reader) fill(n int) error {
	if r.w-r.r >= n {
		return nil
	}
	if n > len(r.buf) {
		r.Grow(n) // a header with a large AHS in a small reader
	}
	if r.r == r.w {
		r.r, r.w = 0, 0
	} else if len(r.buf)-r.r < n {
		r.w = copy(r.buf, r.buf[r.r:r.w])
		r.r = 0
	}
	for empty := 0; r.w-r.r < n; {
		if r.err != nil {
			err := r.err
			r.err = nil
			return err
		}
		m, err := r.rd.Read(r.buf[r.w:])
		if m < 0 || m > len(r.buf)-r.w {
			return errBadRead
		}
		r.w += m
		r.err = err
		if m == 0 && err == nil {
			if empty++; empty >= 100 {
				return io.ErrNoProgress
			}
		}
	}
	return nil
}

// Read reads the next PDU into p. p.Data is a newly allocated slice owned by the
// caller (nil if the segment is empty), and p.AHS likewise; padding and digests are
// checked and dropped.
//
// Errors: io.EOF if the stream ends cleanly between PDUs, io.ErrUnexpectedEOF if it
// ends inside one; ErrHeaderDigest (the connection must close); *DataDigestError (the
// header was good and p.BHS holds it, p.Data is nil: the caller may send a Reject with
// reason RejectDataDigest and continue, the bad data has been consumed); *LengthError
// (data segment longer than lim.MaxRecvDataSegmentLength; p.BHS holds the header, the
// stream cannot be resynchronised, the caller closes). Any other error from the
// underlying stream is returned as is: one met while reading a header leaves the
// Reader able to retry, one met inside a data segment leaves it out of step.
func (r *Reader) Read(lim Limits, p *PDU) error {
	p.AHS, p.Data = nil, nil
	if err := r.fill(BHSLength); err != nil {
		return r.headerErr(err)
	}
	ahsLen := int(r.buf[r.r+4]) * 4
	hlen := BHSLength + ahsLen
	if lim.HeaderDigest {
		hlen += DigestLength
	}
	if err := r.fill(hlen); err != nil {
		return r.headerErr(err)
	}
	hdr := r.buf[r.r : r.r+hlen]
	copy(p.BHS[:], hdr)
	if lim.HeaderDigest {
		got := getDigest(hdr[BHSLength+ahsLen:])
		if got != CRC32C(hdr[:BHSLength+ahsLen]) {
			r.r += hlen
			return ErrHeaderDigest
		}
	}
	if ahsLen > 0 {
		p.AHS = make([]byte, ahsLen)
		copy(p.AHS, hdr[BHSLength:])
	}
	r.r += hlen

	dlen := p.BHS.DataSegmentLength()
	if dlen > lim.MaxRecvDataSegmentLength {
		return &LengthError{Opcode: p.BHS.Opcode(), ITT: p.BHS.ITT(), Length: dlen, Limit: lim.MaxRecvDataSegmentLength}
	}
	if dlen == 0 {
		return nil // no data segment: no padding, no data digest
	}
	data, err := r.readData(&p.BHS, int(dlen))
	if err != nil {
		return err
	}
	pad := padLen(len(data))
	tail := pad
	if lim.DataDigest {
		tail += DigestLength
	}
	if err := r.fill(tail); err != nil {
		return midPDU(err)
	}
	padding := r.buf[r.r : r.r+pad]
	if lim.DataDigest {
		got := getDigest(r.buf[r.r+pad:])
		want := CRC32C(data, padding)
		r.r += tail
		if got != want {
			return &DataDigestError{ITT: p.BHS.ITT(), Opcode: p.BHS.Opcode(), Got: got, Want: want}
		}
	} else {
		r.r += tail
	}
	p.Data = data
	return nil
}

// readData reads an n-byte data segment (n already checked against the limit) into a
// slice from the data allocator (or a new one): first whatever is buffered, then either through the buffer, so the read
// can also pick up the PDUs that follow, or, for a segment too large for the buffer,
// straight from the stream into the slice.
func (r *Reader) readData(h *BHS, n int) ([]byte, error) {
	var data []byte
	if r.alloc != nil {
		data = r.alloc(h, n)
	}
	if len(data) != n {
		data = make([]byte, n)
	}
	got := copy(data, r.buf[r.r:r.w])
	r.r += got
	rest := n - got
	if rest == 0 {
		return data, nil
	}
	if rest+DigestLength+3 <= len(r.buf) {
		if err := r.fill(rest); err != nil {
			return nil, midPDU(err)
		}
		r.r += copy(data[got:], r.buf[r.r:r.r+rest])
		return data, nil
	}
	if r.err != nil {
		err := r.err
		r.err = nil
		return nil, midPDU(err)
	}
	if _, err := io.ReadFull(r.rd, data[got:]); err != nil {
		return nil, midPDU(err)
	}
	return data, nil
}

// headerErr maps the end of the stream while reading a header: clean at a PDU
// boundary, unexpected inside one.
func (r *Reader) headerErr(err error) error {
	if err == io.EOF && r.w > r.r {
		return io.ErrUnexpectedEOF
	}
	return err
}

// midPDU maps the end of the stream inside a PDU to io.ErrUnexpectedEOF.
func midPDU(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
