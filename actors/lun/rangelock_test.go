package lun

import (
	"testing"

	"github.com/atgt/atgt/actors/scsidev"
	pb "github.com/atgt/atgt/messages/atgtv1"
)

func TestRangeLocks(t *testing.T) {
	type step struct {
		acquire   bool // else release
		name      string
		off, n    int64 // acquire: range
		exclusive bool
		runs      bool     // acquire: may run now
		untracked bool     // acquire: the write holds no range, only the count
		release   string   // release: the request to release (an untracked one finishes)
		ready     []string // release: requests that may now run, in order
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"plain writes never wait and go untracked", []step{
			{acquire: true, name: "w1", off: 0, n: 10, runs: true, untracked: true},
			{acquire: true, name: "w2", off: 5, n: 10, runs: true, untracked: true},
		}},
		{"caw waits for every untracked write", []step{
			{acquire: true, name: "w1", off: 0, n: 10, runs: true, untracked: true},
			{acquire: true, name: "w0", off: 100, n: 10, runs: true, untracked: true},
			{acquire: true, name: "caw", off: 5, n: 1, exclusive: true, runs: false},
			{acquire: true, name: "w2", off: 20, n: 1, runs: true},
			{acquire: true, name: "w3", off: 5, n: 1, runs: false},
			{release: "w1"},
			{release: "w0", ready: []string{"caw"}},
			{release: "caw", ready: []string{"w3"}},
			{release: "w3"},
			{release: "w2"},
			{acquire: true, name: "w4", off: 5, n: 1, runs: true, untracked: true},
		}},
		{"caw runs at once when nothing is in flight", []step{
			{acquire: true, name: "w1", off: 0, n: 10, runs: true, untracked: true},
			{release: "w1"},
			{acquire: true, name: "caw", off: 5, n: 1, exclusive: true, runs: true},
			{acquire: true, name: "w2", off: 5, n: 1, runs: false},
			{release: "caw", ready: []string{"w2"}},
		}},
		{"writes wait for caw in order", []step{
			{acquire: true, name: "caw", off: 0, n: 10, exclusive: true, runs: true},
			{acquire: true, name: "w1", off: 9, n: 2, runs: false},
			{acquire: true, name: "caw2", off: 10, n: 1, exclusive: true, runs: false},
			{acquire: true, name: "w2", off: 10, n: 1, runs: false},
			{acquire: true, name: "w3", off: 11, n: 1, runs: true},
			{release: "caw", ready: []string{"w1"}},
			{release: "w1", ready: []string{"caw2"}},
			{release: "caw2", ready: []string{"w2"}},
		}},
		{"adjacent ranges do not overlap", []step{
			{acquire: true, name: "caw", off: 0, n: 10, exclusive: true, runs: true},
			{acquire: true, name: "w1", off: 10, n: 10, runs: true},
		}},
		{"unknown id releases nothing", []step{
			{release: "nobody"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newRangeLocks(&drainCounter{})
			reqs := map[string]*pb.IoRequest{}
			names := map[*pb.IoRequest]string{}
			for i, s := range tt.steps {
				if s.acquire {
					io := &pb.IoRequest{}
					reqs[s.name], names[io] = io, s.name
					h := held{span: scsidev.Extent{Offset: s.off, Length: s.n}, exclusive: s.exclusive}
					if got := l.acquire(io, h); got != s.runs {
						t.Fatalf("step %d: %s runs %v, want %v", i, s.name, got, s.runs)
					}
					if io.Untracked != s.untracked || (io.Untracked && io.LockId != 0) {
						t.Fatalf("step %d: %s untracked %v lock %d, want untracked %v", i, s.name, io.Untracked, io.LockId, s.untracked)
					}
					continue
				}
				var ready []*pb.IoRequest
				switch io := reqs[s.release]; {
				case io != nil && io.Untracked:
					// As the worker does; the LUN retries on writesDrained.
					l.untracked.done(func(msg any) {
						if _, ok := msg.(*writesDrained); !ok {
							t.Fatalf("drain message %T", msg)
						}
						ready = l.retry()
					}, &writesDrained{})
				case io != nil:
					ready = l.release(io.LockId)
				default:
					ready = l.release(0)
				}
				var got []string
				for _, io := range ready {
					got = append(got, names[io])
				}
				if len(got) != len(s.ready) {
					t.Fatalf("step %d: release %s readied %v, want %v", i, s.release, got, s.ready)
				}
				for j := range got {
					if got[j] != s.ready[j] {
						t.Fatalf("step %d: release %s readied %v, want %v", i, s.release, got, s.ready)
					}
				}
			}
		})
	}
}
