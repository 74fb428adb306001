package zerocopy

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"
)

// newTestSource writes size random bytes to a file and returns its source, its
// contents and the count of sent calls.
func newTestSource(t *testing.T, size int) (*Source, []byte, *atomic.Int64) {
	t.Helper()
	data := make([]byte, size)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	path := filepath.Join(t.TempDir(), "lun.img")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	var sent atomic.Int64
	src, err := NewSource(f, int64(size), func() { sent.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(src.Close)
	return src, data, &sent
}

func TestResident(t *testing.T) {
	src, _, _ := newTestSource(t, 1<<20)
	// Just written: every page is in the page cache.
	if !src.Resident(0, 1<<20) {
		t.Fatal("freshly written file not resident")
	}
	if !src.Resident(4096+17, 300<<10) {
		t.Fatal("unaligned range of a resident file not resident")
	}
	for _, r := range [][2]int64{{-1, 10}, {0, 0}, {1 << 20, 1}, {1<<20 - 10, 11}, {0, 2 << 20}} {
		if src.Resident(r[0], r[1]) {
			t.Errorf("Resident(%d, %d) = true outside the file", r[0], r[1])
		}
	}
	// Dropped from the page cache, the pages must read as not resident (where the
	// filesystem lets them go: tmpfs keeps them, as its pages are the file).
	if err := src.f.Sync(); err != nil {
		t.Fatal(err)
	}
	_ = src.rc.Control(func(fd uintptr) { _ = unix.Fadvise(int(fd), 0, 1<<20, unix.FADV_DONTNEED) })
	var st unix.Statfs_t
	if err := unix.Fstatfs(int(src.f.Fd()), &st); err == nil && st.Type != unix.TMPFS_MAGIC {
		if src.Resident(0, 1<<20) {
			t.Error("evicted file still resident")
		}
	}
	src.Close()
	if src.Resident(0, 4096) {
		t.Error("closed source resident")
	}
	if LookupSource(src.ID()) != nil {
		t.Error("closed source still registered")
	}
}

// pair returns both ends of a loopback TCP connection.
func pair(t *testing.T) (*net.TCPConn, *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ch := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		ch <- c
	}()
	a, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b := <-ch
	if b == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a.(*net.TCPConn), b.(*net.TCPConn)
}

func TestSenderInterleavesBytesAndFilePages(t *testing.T) {
	src, data, _ := newTestSource(t, 4<<20)
	a, b := pair(t)
	s := NewSender(a)
	if s == nil {
		t.Fatal("no sender for a TCP connection")
	}
	// Big enough to fill the socket buffers, so both calls meet EAGAIN and resume.
	type piece struct {
		bytes    [][]byte
		off, len int
	}
	pieces := []piece{
		{bytes: [][]byte{[]byte("header-1"), nil, []byte("!")}, off: 0, len: 128 << 10},
		{bytes: [][]byte{bytes.Repeat([]byte{7}, 3<<20)}, off: 12345, len: 3 << 20},
		{bytes: [][]byte{[]byte("h3")}, off: 4<<20 - 4096, len: 4096},
	}
	var want []byte
	for _, p := range pieces {
		for _, bb := range p.bytes {
			want = append(want, bb...)
		}
		want = append(want, data[p.off:p.off+p.len]...)
	}
	got := make(chan []byte, 1)
	go func() {
		buf := make([]byte, len(want))
		_, err := io.ReadFull(b, buf)
		if err != nil {
			buf = nil
		}
		got <- buf
	}()
	for _, p := range pieces {
		if err := s.WriteMore(p.bytes); err != nil {
			t.Fatal(err)
		}
		if err := s.SendFile(src, int64(p.off), p.len); err != nil {
			t.Fatal(err)
		}
	}
	if g := <-got; !bytes.Equal(g, want) {
		t.Fatalf("received %d bytes that differ from the %d sent", len(g), len(want))
	}
}

func TestSendFileShortFile(t *testing.T) {
	src, _, _ := newTestSource(t, 64<<10)
	if err := src.f.Truncate(16 << 10); err != nil {
		t.Fatal(err)
	}
	a, b := pair(t)
	go io.Copy(io.Discard, b)
	err := NewSender(a).SendFile(src, 0, 64<<10)
	if !errors.Is(err, ErrShortFile) {
		t.Fatalf("SendFile past the end of a truncated file: %v, want ErrShortFile", err)
	}
}

func TestSenderNeedsASocket(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if NewSender(a) != nil {
		t.Fatal("sender for a net.Pipe")
	}
}

func TestLedgerEndsEachReadOnce(t *testing.T) {
	src1, _, sent1 := newTestSource(t, 4096)
	src2, _, sent2 := newTestSource(t, 4096)
	l := NewLedger()
	if LookupLedger(l.ID()) != l {
		t.Fatal("ledger not registered")
	}
	for range 3 {
		if !l.Add(src1) {
			t.Fatal("Add on an open ledger refused")
		}
	}
	l.Add(src2)
	l.Done(src1)
	l.Done(src2)
	l.Done(src2) // one too many: ignored
	if sent1.Load() != 1 || sent2.Load() != 1 || l.Pending() != 2 {
		t.Fatalf("after Done: sent %d and %d, pending %d; want 1, 1, 2", sent1.Load(), sent2.Load(), l.Pending())
	}
	l.Close()
	if sent1.Load() != 3 || sent2.Load() != 1 {
		t.Fatalf("after Close: sent %d and %d, want 3 and 1", sent1.Load(), sent2.Load())
	}
	l.Done(src1) // the writer finishing a send after the connection closed
	l.Close()
	if sent1.Load() != 3 {
		t.Fatalf("Done or Close after Close released again: %d", sent1.Load())
	}
	if l.Add(src1) {
		t.Fatal("Add on a closed ledger accepted")
	}
	if LookupLedger(l.ID()) != nil {
		t.Fatal("closed ledger still registered")
	}
}
