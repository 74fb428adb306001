package lun

import (
	"io"
	"io/fs"
	"log/slog"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/atgt/atgt/actors/scsidev"
)

// fakeInfo is what a scripted stat answers.
type fakeInfo struct {
	size  int64
	mtime time.Time
	mode  fs.FileMode
}

func (f fakeInfo) Name() string       { return "store" }
func (f fakeInfo) Size() int64        { return f.size }
func (f fakeInfo) Mode() fs.FileMode  { return f.mode }
func (f fakeInfo) ModTime() time.Time { return f.mtime }
func (f fakeInfo) IsDir() bool        { return f.mode.IsDir() }
func (f fakeInfo) Sys() any           { return nil }

// look is one scripted answer of stat.
type look struct {
	fi  fs.FileInfo
	err error
}

var t0 = time.Unix(1_800_000_000, 0)

func file(size int64, mtime time.Time) look { return look{fi: fakeInfo{size: size, mtime: mtime}} }

var absent = look{err: fs.ErrNotExist}

// TestStoreWatchWaitsForASettledFile: a regular file is opened only once two
// successive looks saw the same size and modification time (a file being copied
// into place changes one of them between looks); a block device at once; a path
// stat cannot read for another reason at once (the open says why).
func TestStoreWatchWaitsForASettledFile(t *testing.T) {
	dev := look{fi: fakeInfo{mode: fs.ModeDevice}}
	for _, tc := range []struct {
		name  string
		looks []look
		want  []bool
	}{
		{"absent", []look{absent, absent}, []bool{false, false}},
		{"settled file", []look{absent, file(1<<20, t0), file(1<<20, t0), file(1<<20, t0)}, []bool{false, false, true, true}},
		{"file being copied", []look{file(1<<20, t0), file(2<<20, t0.Add(time.Second)), file(3<<20, t0.Add(2*time.Second)),
			file(3<<20, t0.Add(2*time.Second))}, []bool{false, false, false, true}},
		{"written in place (size kept, mtime moves)", []look{file(4<<20, t0), file(4<<20, t0.Add(time.Millisecond)),
			file(4<<20, t0.Add(time.Millisecond))}, []bool{false, false, true}},
		{"truncated and rewritten (mtime kept, size moves)", []look{file(4<<20, t0), file(0, t0), file(0, t0)},
			[]bool{false, false, true}},
		{"vanishes between looks", []look{file(1<<20, t0), absent, file(1<<20, t0), file(1<<20, t0)},
			[]bool{false, false, false, true}},
		{"block device", []look{absent, dev}, []bool{false, true}},
		{"unreadable", []look{{err: syscall.EACCES}}, []bool{true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var w storeWatch
			for i, l := range tc.looks {
				if got := w.ready(l.fi, l.err); got != tc.want[i] {
					t.Fatalf("look %d: ready %v, want %v", i, got, tc.want[i])
				}
			}
		})
	}
}

// TestMissingStoreOpensOnlyASettledFile: the missing-store actor does not report a
// file that grows at every look, and reports it once two looks in a row saw it
// unchanged (stat scripted: no wait on a real copy).
func TestMissingStoreOpensOnlyASettledFile(t *testing.T) {
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}))
	defer sys.Shutdown()
	const growing = 8 // looks at which the copy is still going on
	var mu sync.Mutex
	looks := 0
	stat := func(string) (fs.FileInfo, error) {
		mu.Lock()
		defer mu.Unlock()
		looks++
		if looks <= growing {
			return fakeInfo{size: int64(looks) << 20, mtime: t0.Add(time.Duration(looks) * time.Second)}, nil
		}
		return fakeInfo{size: growing << 20, mtime: t0.Add(growing * time.Second)}, nil
	}
	appeared := make(chan int, 4)
	dev := scsidev.New(scsidev.Config{BlockSize: 512, TargetName: "t", LUN: 1})
	sys.Root.Spawn(MissingProps(MissingConfig{Target: "t", ID: 1, Path: "/copied/in/place.img", Device: dev,
		Recheck: 2 * time.Millisecond, stat: stat, Appeared: func() {
			mu.Lock()
			defer mu.Unlock()
			appeared <- looks
		}}))
	select {
	case n := <-appeared:
		// Look `growing` is the first to see the final size and time; the one
		// after it the first to see them unchanged.
		if n < growing+1 {
			t.Fatalf("Appeared after %d looks, while the file still grew until look %d", n, growing)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the file settled, but Appeared was not called")
	}
}
