package backend

import (
	"bytes"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// eintrAfterShort returns a pwritev/preadv that transfers at most max bytes on its
// first call, fails its second call with EINTR (a signal during a FUSE or NFS
// request, with nothing transferred), and then behaves normally: the documented
// Linux contract for an interrupted call.
func eintrAfterShort(max int, sys func(int, [][]byte, int64) (int, error)) func(int, [][]byte, int64) (int, error) {
	calls := 0
	short := shortIO(max, sys)
	return func(fd int, iovs [][]byte, off int64) (int, error) {
		calls++
		switch calls {
		case 1:
			return short(fd, iovs, off)
		case 2:
			return 0, unix.EINTR
		}
		return sys(fd, iovs, off)
	}
}

// TestWriteVecEINTRAfterShort: after a short pwritev, an EINTR
// makes control() run the closure again, which restarts the iovec cursor at the
// first buffer while off has already advanced: the data lands shifted, past the
// range that was checked.
func TestWriteVecEINTRAfterShort(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v.img")
	b := openPath(t, path, 1<<20).(*fdBackend)
	b.pwritev = eintrAfterShort(1000, unix.Pwritev)
	var bufs [][]byte
	var want []byte
	for i := 0; i < 4; i++ {
		p := bytes.Repeat([]byte{byte(i + 1)}, 1024)
		bufs = append(bufs, p)
		want = append(want, p...)
	}
	const off = 8192
	if err := b.WriteVec(bufs, off); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(want)+2048)
	if _, err := b.ReadAt(got, off); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got[:len(want)], want) {
		t.Errorf("WriteVec data differs after short write + EINTR")
	}
	if !bytes.Equal(got[len(want):], make([]byte, 2048)) {
		t.Errorf("WriteVec wrote past the end of its range (bytes after it are %#x...)", got[len(want)])
	}
}

// TestReadVecEINTRAfterShort: the same for preadv: the buffers are filled from
// the wrong offset and a READ returns wrong data with GOOD.
func TestReadVecEINTRAfterShort(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.img")
	b := openPath(t, path, 1<<20).(*fdBackend)
	want := make([]byte, 4096)
	for i := range want {
		want[i] = byte(i / 512 * 17)
	}
	if err := b.WriteAt(want, 0, false); err != nil {
		t.Fatal(err)
	}
	b.preadv = eintrAfterShort(1000, unix.Preadv)
	bufs := [][]byte{make([]byte, 2048), make([]byte, 2048)}
	if err := b.ReadVec(bufs, 0); err != nil {
		t.Fatal(err)
	}
	if got := append(bufs[0], bufs[1]...); !bytes.Equal(got, want) {
		t.Errorf("ReadVec returned wrong data after short read + EINTR")
	}
}
