package backend

import (
	"path/filepath"
	"syscall"
	"testing"
)

func TestFileMapped(t *testing.T) {
	const size = 1 << 20
	b, err := Open(Options{Path: filepath.Join(t.TempDir(), "m.img"), Size: size, Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	m, ok := b.(Mapper)
	if !ok {
		t.Fatal("file backend is not a Mapper")
	}
	if mapped, n, err := m.Mapped(0, size); err != nil || mapped || n != size {
		t.Fatalf("fresh sparse file: mapped %v run %d err %v", mapped, n, err)
	}
	block := make([]byte, 64<<10)
	block[0] = 1
	if err := b.WriteAt(block, 128<<10, false); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		off, length int64
		mapped      bool
		run         int64
	}{
		{0, size, false, 128 << 10},
		{128 << 10, size - 128<<10, true, 64 << 10},
		{130 << 10, 4096, true, 4096},
		{192 << 10, size - 192<<10, false, size - 192<<10},
	}
	for _, tt := range tests {
		mapped, n, err := m.Mapped(tt.off, tt.length)
		if err != nil || mapped != tt.mapped || n != tt.run {
			t.Errorf("Mapped(%d, %d) = %v, %d, %v; want %v, %d", tt.off, tt.length, mapped, n, err, tt.mapped, tt.run)
		}
	}
	if err := b.Unmap(128<<10, 64<<10); err != nil {
		t.Fatal(err)
	}
	if mapped, _, _ := m.Mapped(128<<10, 4096); mapped {
		t.Error("punched range still mapped")
	}
	if _, _, err := m.Mapped(size, 1); err == nil {
		t.Error("out of range accepted")
	}
	// Wrappers keep the optional interface.
	if _, ok := WithCounters(b, &Counters{}).(Mapper); !ok {
		t.Error("WithCounters hides Mapper")
	}
	if _, ok := WithFaults(b, Faults()).(Mapper); !ok {
		t.Error("WithFaults hides Mapper")
	}
}

func TestPreallocate(t *testing.T) {
	const size = 1 << 20
	for _, pre := range []bool{false, true} {
		path := filepath.Join(t.TempDir(), "p.img")
		b, err := Open(Options{Path: path, Size: size, Create: true, Preallocate: pre})
		if err != nil {
			t.Fatal(err)
		}
		var st syscall.Stat_t
		if err := syscall.Stat(path, &st); err != nil {
			t.Fatal(err)
		}
		b.Close()
		if allocated := st.Blocks*512 >= size; allocated != pre {
			t.Errorf("Preallocate %v: %d bytes allocated", pre, st.Blocks*512)
		}
	}
}
