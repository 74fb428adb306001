package lun

import (
	"bytes"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/atgt/atgt/backend"
	pb "github.com/atgt/atgt/messages/atgtv1"
)

func TestCopySegments(t *testing.T) {
	a := backend.NewMemory(1 << 20)
	src := bytes.Repeat([]byte("abcdefgh"), 4096) // 32 KiB
	if err := a.WriteAt(src, 4096, false); err != nil {
		t.Fatal(err)
	}
	w := &worker{b: a, log: hclog.NewNullLogger()}
	tests := []struct {
		name string
		segs []*pb.CopySegment
		ok   bool
	}{
		{"within the LU", []*pb.CopySegment{{SrcNaa: 1, DstNaa: 1, SrcOffset: 4096, DstOffset: 512 << 10, Length: int64(len(src))}}, true},
		{"past the end", []*pb.CopySegment{{SrcNaa: 1, DstNaa: 1, SrcOffset: 1<<20 - 512, Length: 1024}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := w.copySegments(tc.segs, false)
			if (err == nil) != tc.ok {
				t.Fatalf("err %v, want ok=%v", err, tc.ok)
			}
			if !tc.ok {
				return
			}
			s := tc.segs[0]
			got := make([]byte, s.Length)
			if _, err := a.ReadAt(got, s.DstOffset); err != nil || !bytes.Equal(got, src) {
				t.Fatalf("copied data differs (err %v)", err)
			}
		})
	}
}

func TestSanitizeOverwrite(t *testing.T) {
	m := backend.NewMemory(64 << 10)
	w := &worker{b: m, log: hclog.NewNullLogger()}
	block := bytes.Repeat([]byte{0x0F}, 512)
	for _, tc := range []struct {
		name   string
		passes uint32
		invert bool
		want   byte
	}{
		{"one pass", 1, false, 0x0F},
		{"two passes inverted", 2, true, 0xF0},
		{"three passes inverted", 3, true, 0x0F},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := &pb.IoRequest{Task: &pb.ScsiTask{DataOut: block}, Length: 64 << 10, Passes: tc.passes, Invert: tc.invert}
			if err := w.sanitizeOverwrite(req); err != nil {
				t.Fatal(err)
			}
			got := make([]byte, 64<<10)
			if _, err := m.ReadAt(got, 0); err != nil || !bytes.Equal(got, bytes.Repeat([]byte{tc.want}, 64<<10)) {
				t.Fatalf("medium not overwritten with %02x (err %v)", tc.want, err)
			}
		})
	}
}

func TestPace(t *testing.T) {
	start := time.Now()
	pace(start, 1<<20, 10<<20) // 1 MiB at 10 MiB/s: 100 ms
	if d := time.Since(start); d < 90*time.Millisecond {
		t.Fatalf("pace returned after %v, want about 100ms", d)
	}
	// No limit: 1 GiB "written" at once must not sleep. Under any rate a paced
	// call would take seconds (a second even at 1 GiB/s), while the return of an
	// unpaced call takes microseconds; a second of margin keeps a loaded 2-core
	// machine (a preempted goroutine waits tens of milliseconds) from failing it.
	start = time.Now()
	pace(start, 1<<30, 0)
	if d := time.Since(start); d >= time.Second {
		t.Fatalf("no limit must not sleep: 1 GiB took %v, as if paced at %.0f MiB/s", d, float64(1<<10)/d.Seconds())
	}
}

// A copy whose first segment is one block still moves its later, longer segments
// in copyChunk pieces, not a block at a time (a scsidev review found the buffer
// sized from the first segment only: 512 B then 1 MiB took 2049 writes).
func TestCopyBufferFitsLongestSegment(t *testing.T) {
	var c backend.Counters
	b := backend.WithCounters(backend.NewMemory(4<<20), &c)
	w := &worker{b: b, log: hclog.NewNullLogger()}
	segs := []*pb.CopySegment{
		{SrcNaa: 1, DstNaa: 1, SrcOffset: 0, DstOffset: 2 << 20, Length: 512},
		{SrcNaa: 1, DstNaa: 1, SrcOffset: 4096, DstOffset: 3 << 20, Length: 1 << 20},
	}
	if err := w.copySegments(segs, false); err != nil {
		t.Fatal(err)
	}
	if n := c.Writes.Load(); n != 2 {
		t.Fatalf("copying 512 B then 1 MiB took %d backend writes, want 2", n)
	}
}
