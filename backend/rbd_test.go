//go:build ceph

package backend

import (
	"bytes"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/atgt/atgt/tests/cephtest"
)

// TestMain stops the test cluster the RBD tests started (cephtest.Shared), if any.
func TestMain(m *testing.M) { cephtest.Main(m) }

// openRBDImage makes a fresh image of size on the test cluster and opens it.
func openRBDImage(t *testing.T, size int64) (Backend, *cephtest.Cluster, string) {
	t.Helper()
	c := cephtest.Shared(t)
	name := c.Image(t, size)
	b, err := OpenRBD(RBDOptions{Pool: "rbd", Image: name, User: "admin", CephConf: c.Conf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b, c, name
}

func TestRBDConformance(t *testing.T) {
	runConformance(t, func(t *testing.T, size int64) Backend {
		b, _, _ := openRBDImage(t, size)
		return b
	})
}

// TestRBDCompareAndWrite: a match writes, a miscompare writes nothing and names the
// first differing byte, and a range across two RADOS objects is left to the LUN.
func TestRBDCompareAndWrite(t *testing.T) {
	b, _, _ := openRBDImage(t, 16<<20)
	cw := b.(ComparerWriter)
	old := bytes.Repeat([]byte{1}, 512)
	if err := b.WriteAt(old, 8192, false); err != nil {
		t.Fatal(err)
	}
	cmp := bytes.Clone(old)
	cmp[100] = 9
	if err := cw.CompareAndWrite(cmp, bytes.Repeat([]byte{2}, 512), 8192, false); !errors.As(err, new(*MiscompareError)) {
		t.Fatalf("miscompare: err = %v", err)
	} else if mis := err.(*MiscompareError); mis.Offset != 100 {
		t.Fatalf("miscompare at %d, want 100", mis.Offset)
	}
	mustRead(t, b, 8192, old)
	neu := bytes.Repeat([]byte{3}, 512)
	if err := cw.CompareAndWrite(old, neu, 8192, true); err != nil {
		t.Fatalf("matching compare and write: %v", err)
	}
	mustRead(t, b, 8192, neu)
	// Longer ranges are librbd's when it takes them, else the LUN's (ErrNoNative).
	long := bytes.Repeat([]byte{4}, 4096)
	if err := cw.CompareAndWrite(make([]byte, 4096), long, 1<<20, false); err != nil && !errors.Is(err, ErrNoNative) {
		t.Fatalf("4 KiB compare and write: %v", err)
	} else if err == nil {
		mustRead(t, b, 1<<20, long)
	}
	if err := cw.CompareAndWrite(make([]byte, 1024), make([]byte, 1024), 4<<20-512, false); !errors.Is(err, ErrNoNative) {
		t.Fatalf("across objects: err = %v, want ErrNoNative", err)
	}
}

// TestRBDCompareAndWriteRace: of many gateways' (connections') compare-and-writes
// racing on one block with the same expected data, exactly one wins.
func TestRBDCompareAndWriteRace(t *testing.T) {
	b, c, name := openRBDImage(t, 4<<20)
	const n = 4
	bs := []Backend{b}
	for range n - 1 {
		o, err := OpenRBD(RBDOptions{Pool: "rbd", Image: name, User: "admin", CephConf: c.Conf})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { o.Close() })
		bs = append(bs, o)
	}
	zero := make([]byte, 512)
	var wg sync.WaitGroup
	results := make([]error, n)
	for i, o := range bs {
		wg.Go(func() {
			results[i] = o.(ComparerWriter).CompareAndWrite(zero, bytes.Repeat([]byte{byte(i + 1)}, 512), 0, false)
		})
	}
	wg.Wait()
	won := 0
	for i, err := range results {
		switch {
		case err == nil:
			won++
		case errors.As(err, new(*MiscompareError)):
		default:
			t.Fatalf("gateway %d: %v", i, err)
		}
	}
	if won != 1 {
		t.Fatalf("%d compare-and-writes won, want exactly 1 (%v)", won, results)
	}
}

func TestRBDWriteSame(t *testing.T) {
	b, _, _ := openRBDImage(t, 4<<20)
	block := bytes.Repeat([]byte{0xC3}, 512)
	if err := b.(WriteSamer).WriteSame(block, 1024, 64*512, false); err != nil {
		t.Fatal(err)
	}
	mustRead(t, b, 1024, bytes.Repeat(block, 64))
	mustRead(t, b, 512, make([]byte, 512))
}

func TestRBDVectored(t *testing.T) {
	b, _, _ := openRBDImage(t, 4<<20)
	bufs := [][]byte{bytes.Repeat([]byte{1}, 4096), bytes.Repeat([]byte{2}, 512), {}, bytes.Repeat([]byte{3}, 8192)}
	if err := b.(VectorWriter).WriteVec(bufs, 4096); err != nil {
		t.Fatal(err)
	}
	mustRead(t, b, 4096, bytes.Join(bufs, nil))
	got := [][]byte{make([]byte, 512), make([]byte, 8192)}
	if err := b.(VectorReader).ReadVec(got, 4096+4096); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(bytes.Join(got, nil), bytes.Join(bufs[1:], nil)) {
		t.Fatal("ReadVec: data differs")
	}
}

// TestRBDResizeFromOutside: `rbd resize` by another client is seen by Size and
// reported to OnResize; Resize of its own is not reported.
func TestRBDResizeFromOutside(t *testing.T) {
	b, c, name := openRBDImage(t, 4<<20)
	sizes := make(chan int64, 4)
	b.(SizeWatcher).OnResize(func(size int64) { sizes <- size })
	c.Resize(t, name, 8<<20)
	select {
	case got := <-sizes:
		if got != 8<<20 || b.Size() != 8<<20 {
			t.Fatalf("OnResize(%d), Size %d, want %d", got, b.Size(), 8<<20)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no OnResize within 10 s of rbd resize")
	}
	if err := b.(Resizer).Resize(12 << 20); err != nil {
		t.Fatal(err)
	}
	if b.Size() != 12<<20 {
		t.Fatalf("Size after Resize = %d", b.Size())
	}
	if err := b.WriteAt([]byte("end"), 12<<20-3, false); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-sizes:
		t.Fatalf("own Resize reported as OnResize(%d)", got)
	case <-time.After(2500 * time.Millisecond):
	}
}

// TestRBDExclusiveLock: the lock moves between two gateways only by release.
func TestRBDExclusiveLock(t *testing.T) {
	a, c, name := openRBDImage(t, 4<<20)
	bb, err := OpenRBD(RBDOptions{Pool: "rbd", Image: name, User: "admin", CephConf: c.Conf})
	if err != nil {
		t.Fatal(err)
	}
	defer bb.Close()
	ea, eb := a.(ExclusiveOwner), bb.(ExclusiveOwner)
	if err := ea.AcquireLock(); err != nil {
		t.Fatal(err)
	}
	if own, err := ea.IsLockOwner(); err != nil || !own {
		t.Fatalf("a owns = %v, %v", own, err)
	}
	if err := eb.AcquireLock(); err == nil {
		t.Fatal("b acquired the lock a holds")
	}
	if err := ea.ReleaseLock(); err != nil {
		t.Fatal(err)
	}
	if err := eb.AcquireLock(); err != nil {
		t.Fatalf("b after a released: %v", err)
	}
	if own, _ := ea.IsLockOwner(); own {
		t.Fatal("a still owns the lock")
	}
}
