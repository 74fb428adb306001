package backend

import "testing"

func TestCounters(t *testing.T) {
	var c Counters
	b := WithCounters(NewMemory(1<<16), &c)
	steps := []struct {
		name string
		do   func() error
	}{
		{"read", func() error { _, err := b.ReadAt(make([]byte, 10), 0); return err }},
		{"write", func() error { return b.WriteAt([]byte{1}, 5, false) }},
		{"stable write", func() error { return b.WriteAt([]byte{1}, 6, true) }},
		{"stable write", func() error { return b.WriteAt([]byte{1}, 7, true) }},
		{"sync", b.Sync},
		{"unmap", func() error { return b.Unmap(0, 4096) }},
		{"failed read still counts", func() error { _, _ = b.ReadAt(make([]byte, 1), -1); return nil }},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
	}
	for _, want := range []struct {
		name      string
		got, want int64
	}{
		{"Reads", c.Reads.Load(), 2},
		{"Writes", c.Writes.Load(), 3},
		{"StableWrites", c.StableWrites.Load(), 2},
		{"Syncs", c.Syncs.Load(), 1},
		{"Unmaps", c.Unmaps.Load(), 1},
	} {
		if want.got != want.want {
			t.Errorf("%s = %d, want %d", want.name, want.got, want.want)
		}
	}
}

// fakeSizer is a memory backend that claims a logical block size.
type fakeSizer struct{ Backend }

func (fakeSizer) LogicalBlockSize() int { return 4096 }

func TestWrappersKeepBlockSizer(t *testing.T) {
	tests := []struct {
		name  string
		inner Backend
		want  int // 0: not a BlockSizer
	}{
		{"memory stays plain", NewMemory(4096), 0},
		{"block sizer forwarded", fakeSizer{NewMemory(4096)}, 4096},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, b := range []Backend{
				WithCounters(tt.inner, new(Counters)),
				WithFaults(tt.inner, Faults()),
				WithFaults(WithCounters(tt.inner, new(Counters)), Faults()),
			} {
				bs, ok := b.(BlockSizer)
				if ok != (tt.want != 0) || (ok && bs.LogicalBlockSize() != tt.want) {
					t.Fatalf("%T: BlockSizer ok=%v, want size %d", b, ok, tt.want)
				}
			}
		})
	}
}
