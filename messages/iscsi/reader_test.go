package iscsi

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

// countingReader counts Read calls, to show that one read can carry many PDUs.
type countingReader struct {
	r     io.Reader
	calls int
}

func (c *countingReader) Read(b []byte) (int, error) {
	c.calls++
	return c.r.Read(b)
}

func stream(t testing.TB, hd, dd bool, pdus ...*PDU) []byte {
	t.Helper()
	var b []byte
	for _, p := range pdus {
		b = append(b, MarshalPDU(p, hd, dd)...)
	}
	return b
}

func TestReadErrors(t *testing.T) {
	lim := Limits{MaxRecvDataSegmentLength: 20000}
	good := MarshalPDU(samplePDU(OpSCSICmd, 10, 0), false, false)
	hdGood := MarshalPDU(samplePDU(OpSCSICmd, 10, 4), true, true)
	long := MarshalPDU(samplePDU(OpDataOut, 20001, 0), false, false)
	bigOut := MarshalPDU(samplePDU(OpDataOut, 20000, 0), false, false)
	corruptHeader := append([]byte(nil), hdGood...)
	corruptHeader[20] ^= 1
	corruptHeaderDigest := append([]byte(nil), hdGood...)
	corruptHeaderDigest[BHSLength+4] ^= 0x80

	tests := []struct {
		name   string
		in     []byte
		hd, dd bool
		check  func(error) bool
	}{
		{"empty stream", nil, false, false, func(e error) bool { return e == io.EOF }},
		{"truncated header", good[:20], false, false, func(e error) bool { return e == io.ErrUnexpectedEOF }},
		{"truncated AHS", hdGood[:50], true, true, func(e error) bool { return e == io.ErrUnexpectedEOF }},
		{"truncated header digest", hdGood[:BHSLength+4+2], true, true, func(e error) bool { return e == io.ErrUnexpectedEOF }},
		{"truncated data", good[:BHSLength+3], false, false, func(e error) bool { return e == io.ErrUnexpectedEOF }},
		{"truncated padding", good[:BHSLength+10], false, false, func(e error) bool { return e == io.ErrUnexpectedEOF }},
		{"truncated data digest", hdGood[:len(hdGood)-1], true, true, func(e error) bool { return e == io.ErrUnexpectedEOF }},
		{"too long", long, false, false, func(e error) bool {
			var le *LengthError
			return errors.As(e, &le) && le.Length == 20001 && le.Limit == 20000 && le.Opcode == OpDataOut && le.Error() != ""
		}},
		{"truncated large data", bigOut[:len(bigOut)-100], false, false, func(e error) bool { return e == io.ErrUnexpectedEOF }},
		{"corrupt header", corruptHeader, true, true, func(e error) bool { return e == ErrHeaderDigest }},
		{"corrupt header digest", corruptHeaderDigest, true, true, func(e error) bool { return e == ErrHeaderDigest }},
		{"digest expected but absent", good, true, false, func(e error) bool { return e == ErrHeaderDigest || e == io.ErrUnexpectedEOF }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := lim
			l.HeaderDigest, l.DataDigest = tt.hd, tt.dd
			var p PDU
			err := NewReader(bytes.NewReader(tt.in), 0).Read(l, &p)
			if !tt.check(err) {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

// TestLengthErrorDoesNotAllocate checks that a huge announced length is refused before
// anything is sized from it.
func TestLengthErrorDoesNotAllocate(t *testing.T) {
	p := samplePDU(OpDataOut, 0, 0)
	wire := MarshalPDU(p, false, false)
	wire[5], wire[6], wire[7] = 0xff, 0xff, 0xff // 16 MiB - 1
	r := NewReader(bytes.NewReader(wire), 0)
	var got PDU
	var err error
	n := testing.AllocsPerRun(20, func() {
		r.r, r.w = 0, 0
		r.rd = bytes.NewReader(wire)
		err = r.Read(LoginLimits, &got)
	})
	var le *LengthError
	if !errors.As(err, &le) || le.Length != MaxDataSegmentLength {
		t.Fatalf("err = %v", err)
	}
	if n > 3 { // the *bytes.Reader and the *LengthError, nothing the size of the segment
		t.Fatalf("%v allocations", n)
	}
}

func TestDataDigestErrorResynchronises(t *testing.T) {
	first := samplePDU(OpDataOut, 13, 0)
	second := samplePDU(OpNopOut, 4, 0)
	wire := stream(t, true, true, first, second)
	wire[BHSLength+4+5] ^= 0xff // corrupt a data byte of the first PDU
	lim := Limits{MaxRecvDataSegmentLength: 100, HeaderDigest: true, DataDigest: true}
	r := NewReader(bytes.NewReader(wire), 0)
	var p PDU
	err := r.Read(lim, &p)
	var de *DataDigestError
	if !errors.As(err, &de) || de.ITT != first.BHS.ITT() || de.Opcode != OpDataOut || de.Got == de.Want {
		t.Fatalf("err = %v", err)
	}
	if p.BHS != first.BHS || p.Data != nil {
		t.Fatalf("after data digest error: %v", &p)
	}
	rej := NewReject(RejectDataDigest, &p.BHS)
	if rej.BHS.Opcode() != OpReject || rej.BHS.Response() != RejectDataDigest || !bytes.Equal(rej.Data, first.BHS[:]) {
		t.Fatalf("reject = %v", rej)
	}
	if err := r.Read(lim, &p); err != nil || p.BHS != second.BHS || !bytes.Equal(p.Data, second.Data) {
		t.Fatalf("next PDU: %v %v", err, &p)
	}
	if err := r.Read(lim, &p); err != io.EOF {
		t.Fatalf("end: %v", err)
	}
}

// TestChunking reads the same stream of PDUs in one big chunk, one byte at a time, in
// odd-sized pieces and through a small buffer with segments larger than it.
func TestChunking(t *testing.T) {
	var pdus []*PDU
	for i, op := range allOpcodes {
		pdus = append(pdus, samplePDU(op, i*37%50, i%3*4))
	}
	pdus = append(pdus, samplePDU(OpDataOut, 10000, 0), samplePDU(OpDataIn, 4093, 0), samplePDU(OpNopOut, 1, 0))
	for _, d := range []struct{ hd, dd bool }{{false, false}, {true, true}} {
		wire := stream(t, d.hd, d.dd, pdus...)
		lim := Limits{MaxRecvDataSegmentLength: 1 << 20, HeaderDigest: d.hd, DataDigest: d.dd}
		readers := []struct {
			name string
			r    func() io.Reader
			buf  int
		}{
			{"one chunk", func() io.Reader { return bytes.NewReader(wire) }, 1 << 20},
			{"one byte", func() io.Reader { return iotest.OneByteReader(bytes.NewReader(wire)) }, 0},
			{"half reads", func() io.Reader { return iotest.HalfReader(bytes.NewReader(wire)) }, 0},
			{"data with EOF", func() io.Reader { return iotest.DataErrReader(bytes.NewReader(wire)) }, 0},
		}
		for _, rd := range readers {
			t.Run(rd.name, func(t *testing.T) {
				r := NewReader(rd.r(), rd.buf)
				var p PDU
				for i, want := range pdus {
					if err := r.Read(lim, &p); err != nil {
						t.Fatalf("PDU %d (%v): %v", i, want, err)
					}
					if p.BHS != want.BHS || !bytes.Equal(p.Data, want.Data) || !bytes.Equal(p.AHS, want.AHS) {
						t.Fatalf("PDU %d: got %v, want %v", i, &p, want)
					}
				}
				if err := r.Read(lim, &p); err != io.EOF {
					t.Fatalf("end: %v", err)
				}
			})
		}
	}
}

func TestManyPDUsOneRead(t *testing.T) {
	var pdus []*PDU
	for i := 0; i < 50; i++ {
		pdus = append(pdus, samplePDU(OpSCSICmd, i%9, 0))
	}
	wire := stream(t, false, false, pdus...)
	cr := &countingReader{r: bytes.NewReader(wire)}
	r := NewReader(cr, 64<<10)
	var p PDU
	for range pdus {
		if err := r.Read(Limits{MaxRecvDataSegmentLength: 100}, &p); err != nil {
			t.Fatal(err)
		}
	}
	if r.Buffered() != 0 {
		t.Fatalf("%d bytes left buffered", r.Buffered())
	}
	if cr.calls != 1 {
		t.Fatalf("%d reads for %d bytes, want 1", cr.calls, len(wire))
	}
}

// TestRetryAfterTimeout checks that an error inside a header leaves it buffered.
func TestRetryAfterTimeout(t *testing.T) {
	wire := MarshalPDU(samplePDU(OpNopOut, 5, 0), false, false)
	r := NewReader(&failOnce{parts: [][]byte{wire[:30], nil, wire[30:]}}, 0)
	var p PDU
	lim := Limits{MaxRecvDataSegmentLength: 8}
	if err := r.Read(lim, &p); err != iotest.ErrTimeout {
		t.Fatalf("first read: %v", err)
	}
	if err := r.Read(lim, &p); err != nil || p.BHS.ITT() != 0x1000 {
		t.Fatalf("retry: %v %v", err, &p)
	}
}

// failOnce returns its parts in turn, a nil part as a timeout.
type failOnce struct{ parts [][]byte }

func (f *failOnce) Read(b []byte) (int, error) {
	if len(f.parts) == 0 {
		return 0, io.EOF
	}
	p := f.parts[0]
	f.parts = f.parts[1:]
	if p == nil {
		return 0, iotest.ErrTimeout
	}
	return copy(b, p), nil
}

type badReader struct{}

func (badReader) Read(b []byte) (int, error) { return len(b) + 1, nil }

type stuckReader struct{}

func (stuckReader) Read([]byte) (int, error) { return 0, nil }

func TestMisbehavingReader(t *testing.T) {
	var p PDU
	if err := NewReader(badReader{}, 0).Read(LoginLimits, &p); err == nil {
		t.Fatal("bad count accepted")
	}
	if err := NewReader(stuckReader{}, 0).Read(LoginLimits, &p); err != io.ErrNoProgress {
		t.Fatalf("stuck reader: %v", err)
	}
}

// TestDataAllocator: data segments, small (through the buffer) and large (straight
// from the stream), land in the slices the allocator gives, with digests checked; a
// wrong-sized slice from the allocator is replaced rather than trusted.
func TestDataAllocator(t *testing.T) {
	small := samplePDU(OpSCSICmd, 4096, 0)
	large := samplePDU(OpDataOut, 200000, 0)
	odd := samplePDU(OpDataOut, 13, 0)
	for _, dd := range []bool{false, true} {
		r := NewReader(bytes.NewReader(stream(t, false, dd, small, large, odd)), 8192)
		var given [][]byte
		r.SetDataAllocator(func(h *BHS, n int) []byte {
			if h.Opcode() == OpDataOut && n == 13 {
				return make([]byte, 1) // wrong size: must not be used
			}
			b := make([]byte, n, n+100)
			given = append(given, b)
			return b
		})
		lim := Limits{MaxRecvDataSegmentLength: 1 << 20, DataDigest: dd}
		for i, want := range []*PDU{small, large, odd} {
			var p PDU
			if err := r.Read(lim, &p); err != nil {
				t.Fatalf("dd=%v pdu %d: %v", dd, i, err)
			}
			if !bytes.Equal(p.Data, want.Data) {
				t.Fatalf("dd=%v pdu %d: data differs", dd, i)
			}
			if i < 2 && &p.Data[0] != &given[i][0] {
				t.Fatalf("dd=%v pdu %d: data not read into the allocator's slice", dd, i)
			}
			if i == 2 && len(p.Data) != 13 {
				t.Fatalf("dd=%v: odd pdu has %d bytes", dd, len(p.Data))
			}
		}
	}
}

// TestReady: Ready is true exactly when a whole PDU, with its padding and the
// negotiated digests, is buffered.
func TestReady(t *testing.T) {
	for _, dg := range []bool{false, true} {
		lim := Limits{MaxRecvDataSegmentLength: 1 << 16, HeaderDigest: dg, DataDigest: dg}
		for _, n := range []int{0, 13, 4096} {
			whole := stream(t, dg, dg, samplePDU(OpDataOut, n, 0))
			for cut := 0; cut <= len(whole); cut++ {
				r := NewReader(bytes.NewReader(whole[:cut]), 1<<16)
				r.fill(cut) //nolint:errcheck // buffer what there is
				if got, want := r.Ready(lim), cut == len(whole); got != want {
					t.Fatalf("digests %v, %d data bytes, %d of %d buffered: Ready %v", dg, n, cut, len(whole), got)
				}
			}
		}
	}
}

// TestSmallReader: a reader with a buffer smaller than a header grows it for a
// large AHS, reads data segments larger than it, and grows on request.
func TestSmallReader(t *testing.T) {
	pdus := []*PDU{samplePDU(OpLoginReq, 700, 0), samplePDU(OpNopOut, 5000, 1020), samplePDU(OpLoginReq, 3, 8)}
	for _, d := range []struct{ hd, dd bool }{{false, false}, {true, true}} {
		wire := stream(t, d.hd, d.dd, pdus...)
		lim := Limits{MaxRecvDataSegmentLength: 8192, HeaderDigest: d.hd, DataDigest: d.dd}
		for _, size := range []int{0, 64, 1024} {
			r := NewSmallReader(iotest.HalfReader(bytes.NewReader(wire)), size)
			var p PDU
			for i, want := range pdus {
				if i == 2 {
					r.Grow(1 << 16)
				}
				if err := r.Read(lim, &p); err != nil {
					t.Fatalf("size %d, PDU %d: %v", size, i, err)
				}
				if p.BHS != want.BHS || !bytes.Equal(p.Data, want.Data) || !bytes.Equal(p.AHS, want.AHS) {
					t.Fatalf("size %d, PDU %d: got %v, want %v", size, i, &p, want)
				}
			}
			if err := r.Read(lim, &p); err != io.EOF {
				t.Fatalf("size %d, end: %v", size, err)
			}
		}
	}
}
