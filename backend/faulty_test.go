package backend

import (
	"errors"
	"testing"
)

func TestFaults(t *testing.T) {
	errBoom := errors.New("boom")
	faults := Faults(
		Fault{Op: "read", Off: 4096, Err: errBoom},
		Fault{Op: "write", Off: -1, Panic: true, Err: errBoom},
		Fault{Op: "sync", Off: -1, Err: errBoom},
		Fault{Op: "unmap", Off: 0, Panic: true},
	)
	b := WithFaults(NewMemory(1<<16), faults)
	tests := []struct {
		name      string
		do        func() error
		wantErr   error
		wantPanic string // op of the expected *InjectedPanic
	}{
		{"read elsewhere passes", func() error { _, err := b.ReadAt(make([]byte, 8), 0); return err }, nil, ""},
		{"read at offset fails", func() error { _, err := b.ReadAt(make([]byte, 8), 4096); return err }, errBoom, ""},
		{"any write panics", func() error { return b.WriteAt([]byte{1}, 123, true) }, nil, "write"},
		{"sync fails", b.Sync, errBoom, ""},
		{"unmap at 0 panics", func() error { return b.Unmap(0, 512) }, nil, "unmap"},
		{"unmap elsewhere passes", func() error { return b.Unmap(512, 512) }, nil, ""},
		{"size passes", func() error { _ = b.Size(); return nil }, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			p := catch(func() { err = tt.do() })
			if tt.wantPanic != "" {
				ip, ok := p.(*InjectedPanic)
				if !ok || ip.Op != tt.wantPanic {
					t.Fatalf("panic %v, want *InjectedPanic in %s", p, tt.wantPanic)
				}
				return
			}
			if p != nil {
				t.Fatalf("unexpected panic %v", p)
			}
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestFaultedWriteDoesNotReachBackend(t *testing.T) {
	inner := NewMemory(4096)
	b := WithFaults(inner, func(op string, off int64) (bool, error) {
		return false, errors.New("nope")
	})
	if err := b.WriteAt([]byte{0xFF}, 0, false); err == nil {
		t.Fatal("faulted write succeeded")
	}
	mustRead(t, inner, 0, []byte{0})
}

// catch runs fn and returns what it panicked with, if anything.
func catch(fn func()) (p any) {
	defer func() { p = recover() }()
	fn()
	return nil
}
