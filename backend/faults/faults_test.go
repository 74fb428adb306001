package faults

import (
	"errors"
	"math"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/atgt/atgt/backend"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Op
	}{{"", Any}, {"any", Any}, {"read", Read}, {"write", Write}, {"sync", Sync}, {"unmap", Unmap}} {
		if got, ok := ParseOp(tc.in); !ok || got != tc.want {
			t.Errorf("ParseOp(%q) = %v, %v", tc.in, got, ok)
		}
	}
	for _, bad := range []string{"Read", "flush", "other"} {
		if _, ok := ParseOp(bad); ok {
			t.Errorf("ParseOp(%q) accepted", bad)
		}
	}
	for k := Error; k < numKinds; k++ {
		if got, ok := ParseKind(k.String()); !ok || got != k {
			t.Errorf("ParseKind(%q) = %v, %v", k.String(), got, ok)
		}
	}
	for _, bad := range []string{"", "boom", "lunpanic"} {
		if _, ok := ParseKind(bad); ok {
			t.Errorf("ParseKind(%q) accepted", bad)
		}
	}
	if s := (Read | Write).String(); s != "read|write" {
		t.Errorf("(Read|Write).String() = %q", s)
	}
}

func TestMatches(t *testing.T) {
	const k = 4096
	tests := []struct {
		name  string
		f     Fault
		ops   Op
		off   int64
		n     int64
		match bool
	}{
		{"op any, no range: read", Fault{Op: Any}, Read, 0, k, true},
		{"op any, no range: sync", Fault{Op: Any}, Sync, 0, 0, true},
		{"op any, no range: a command without IO", Fault{Op: Any}, Other, 0, 0, true},
		{"op read: write", Fault{Op: Read}, Write, 0, k, false},
		{"op read: unmap", Fault{Op: Read}, Unmap, 0, k, false},
		{"op write: a command that reads and writes", Fault{Op: Write}, Read | Write, 0, k, true},
		{"op read: a command without IO", Fault{Op: Read}, Other, 0, 0, false},
		{"range: inside", Fault{Op: Any, Offset: k, Length: k}, Read, k, k, true},
		{"range: overlaps the start", Fault{Op: Any, Offset: k, Length: k}, Read, k - 512, 1024, true},
		{"range: overlaps the end", Fault{Op: Any, Offset: k, Length: k}, Read, 2*k - 512, 1024, true},
		{"range: covers it", Fault{Op: Any, Offset: k, Length: k}, Read, 0, 4 * k, true},
		{"range: just before", Fault{Op: Any, Offset: k, Length: k}, Read, 0, k, false},
		{"range: just after", Fault{Op: Any, Offset: k, Length: k}, Read, 2 * k, k, false},
		{"range to the end: far beyond", Fault{Op: Any, Offset: k}, Write, 1 << 40, k, true},
		{"range to the end: before", Fault{Op: Any, Offset: k}, Write, 0, k, false},
		{"range: sync has none", Fault{Op: Any, Offset: k}, Sync, 0, 0, false},
		{"range: a command without IO has none", Fault{Op: Any, Length: k}, Other, 0, 0, false},
		{"range from 0", Fault{Op: Any, Length: k}, Read, 0, 512, true},
		{"range: huge length does not overflow", Fault{Op: Any, Offset: k, Length: math.MaxInt64}, Read, 1 << 50, k, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.f.matches(tc.ops, tc.off, tc.n); got != tc.match {
				t.Fatalf("%v matches %v [%d,+%d) = %v, want %v", tc.f, tc.ops, tc.off, tc.n, got, tc.match)
			}
		})
	}
}

// catch runs fn and returns what it panicked with, if anything.
func catch(fn func()) (p any) {
	defer func() { p = recover() }()
	fn()
	return nil
}

func TestKinds(t *testing.T) {
	tests := []struct {
		name      string
		f         Fault
		call      func(b backend.Backend) error
		wantErr   bool
		wantPanic string // the *backend.InjectedPanic's Op
		minTime   time.Duration
	}{
		{"error fails a read", Fault{Op: Read, Kind: Error, Probability: 1},
			func(b backend.Backend) error { _, err := b.ReadAt(make([]byte, 512), 0); return err }, true, "", 0},
		{"error fails a write", Fault{Op: Write, Kind: Error, Probability: 1},
			func(b backend.Backend) error { return b.WriteAt([]byte{1}, 0, true) }, true, "", 0},
		{"error fails a sync", Fault{Op: Sync, Kind: Error, Probability: 1},
			func(b backend.Backend) error { return b.Sync() }, true, "", 0},
		{"error fails an unmap", Fault{Op: Unmap, Kind: Error, Probability: 1},
			func(b backend.Backend) error { return b.Unmap(0, 512) }, true, "", 0},
		{"panic panics a write", Fault{Op: Write, Kind: Panic, Probability: 1},
			func(b backend.Backend) error { return b.WriteAt([]byte{1}, 512, false) }, false, "write", 0},
		{"panic panics a sync", Fault{Op: Any, Kind: Panic, Probability: 1},
			func(b backend.Backend) error { return b.Sync() }, false, "sync", 0},
		{"delay delays", Fault{Op: Read, Kind: Delay, Probability: 1, Delay: 50 * time.Millisecond},
			func(b backend.Backend) error { _, err := b.ReadAt(make([]byte, 512), 0); return err }, false, "", 50 * time.Millisecond},
		{"hang with a time limit ends", Fault{Op: Unmap, Kind: Hang, Probability: 1, Delay: 30 * time.Millisecond},
			func(b backend.Backend) error { return b.Unmap(0, 512) }, false, "", 30 * time.Millisecond},
		{"lunPanic leaves backend calls alone", Fault{Op: Any, Kind: LUNPanic, Probability: 1},
			func(b backend.Backend) error { return b.WriteAt([]byte{1}, 0, false) }, false, "", 0},
		{"another op passes", Fault{Op: Read, Kind: Error, Probability: 1},
			func(b backend.Backend) error { return b.WriteAt([]byte{1}, 0, false) }, false, "", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inj := New(nil, nil)
			inj.Set([]Fault{tc.f})
			b := inj.Wrap(backend.NewMemory(1 << 20))
			var err error
			begin := time.Now()
			p := catch(func() { err = tc.call(b) })
			took := time.Since(begin)
			if tc.wantPanic != "" {
				ip, ok := p.(*backend.InjectedPanic)
				if !ok || ip.Op != tc.wantPanic || !errors.Is(ip, ErrInjected) {
					t.Fatalf("panic %v, want *backend.InjectedPanic in %s", p, tc.wantPanic)
				}
			} else if p != nil {
				t.Fatalf("unexpected panic %v", p)
			}
			if (err != nil) != tc.wantErr || (err != nil && !errors.Is(err, ErrInjected)) {
				t.Fatalf("err = %v, want an injected error: %v", err, tc.wantErr)
			}
			if took < tc.minTime {
				t.Fatalf("call took %v, want at least %v", took, tc.minTime)
			}
			if tc.f.Kind != LUNPanic && (tc.wantErr || tc.wantPanic != "" || tc.minTime > 0) {
				if got := inj.Fired(); got[0] != 1 || inj.FiredByKind()[tc.f.Kind] != 1 {
					t.Fatalf("Fired() = %v, FiredByKind() = %v, want one firing", got, inj.FiredByKind())
				}
			}
		})
	}
}

func TestErrorDoesNotReachTheStore(t *testing.T) {
	inner := backend.NewMemory(4096)
	inj := New(nil, nil)
	inj.Set([]Fault{{Op: Write, Kind: Error, Probability: 1, Offset: 512, Length: 512}})
	b := inj.Wrap(inner)
	if err := b.WriteAt([]byte{0xff}, 600, false); err == nil {
		t.Fatal("faulted write succeeded")
	}
	if err := b.WriteAt([]byte{0xee}, 0, false); err != nil {
		t.Fatalf("write outside the range: %v", err)
	}
	got := make([]byte, 1024)
	inner.ReadAt(got, 0)
	if got[600] != 0 || got[0] != 0xee {
		t.Fatalf("store holds %#x at 600 and %#x at 0", got[600], got[0])
	}
}

func TestCount(t *testing.T) {
	inj := New(nil, nil)
	inj.Set([]Fault{{Op: Read, Kind: Error, Probability: 1, Count: 3}})
	b := inj.Wrap(backend.NewMemory(1 << 20))
	var wg sync.WaitGroup
	var mu sync.Mutex
	failed := 0
	for range 20 {
		wg.Go(func() {
			if _, err := b.ReadAt(make([]byte, 512), 0); err != nil {
				mu.Lock()
				failed++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if failed != 3 || inj.Fired()[0] != 3 {
		t.Fatalf("%d reads failed and Fired() = %v, want 3", failed, inj.Fired())
	}
}

func TestProbability(t *testing.T) {
	run := func(p float64, seed uint64) (fired int) {
		inj := New(nil, rand.New(rand.NewPCG(seed, 1)))
		inj.Set([]Fault{{Op: Any, Kind: Error, Probability: p}})
		b := inj.Wrap(backend.NewMemory(1 << 20))
		for range 1000 {
			if b.Sync() != nil {
				fired++
			}
		}
		return fired
	}
	if n := run(0, 1); n != 0 {
		t.Errorf("probability 0 fired %d times", n)
	}
	if n := run(1, 1); n != 1000 {
		t.Errorf("probability 1 fired %d of 1000 times", n)
	}
	n := run(0.25, 7)
	if n < 200 || n > 300 {
		t.Errorf("probability 0.25 fired %d of 1000 times", n)
	}
	if again := run(0.25, 7); again != n {
		t.Errorf("the same seed fired %d then %d times", n, again)
	}
}

func TestListOrder(t *testing.T) {
	// Every matching fault fires in order: the delay waits, then the error ends the
	// call, and the fault after it is not reached.
	inj := New(nil, nil)
	inj.Set([]Fault{
		{Op: Read, Kind: Delay, Probability: 1, Delay: 20 * time.Millisecond},
		{Op: Read, Kind: Error, Probability: 1, Offset: 4096, Length: 4096},
		{Op: Read, Kind: Panic, Probability: 1},
	})
	b := inj.Wrap(backend.NewMemory(1 << 20))
	begin := time.Now()
	if _, err := b.ReadAt(make([]byte, 512), 4096); !errors.Is(err, ErrInjected) {
		t.Fatalf("err = %v", err)
	}
	if took := time.Since(begin); took < 20*time.Millisecond {
		t.Fatalf("delay skipped: %v", took)
	}
	if got := inj.Fired(); got[0] != 1 || got[1] != 1 || got[2] != 0 {
		t.Fatalf("Fired() = %v, want [1 1 0]", got)
	}
}

// waitHeld waits until inj holds n calls.
func waitHeld(t *testing.T, inj *Injector, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); inj.Held() != n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("Held() = %d, want %d", inj.Held(), n)
		}
	}
}

func TestClearReleasesHangs(t *testing.T) {
	before := runtime.NumGoroutine()
	inner := backend.NewMemory(1 << 20)
	inj := New(nil, nil)
	inj.Set([]Fault{
		{Op: Write, Kind: Hang, Probability: 1},
		{Op: Read, Kind: Hang, Probability: 1, Delay: time.Hour},
		{Op: Write, Kind: Error, Probability: 1}, // not reached by a released call
	})
	b := inj.Wrap(inner)
	const calls = 8
	errs := make(chan error, calls)
	for i := range calls {
		go func() {
			if i%2 == 0 {
				errs <- b.WriteAt([]byte{byte(i + 1)}, int64(i), false)
			} else {
				_, err := b.ReadAt(make([]byte, 1), int64(i))
				errs <- err
			}
		}()
	}
	waitHeld(t, inj, calls)
	select {
	case err := <-errs:
		t.Fatalf("a hung call returned before Clear: %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	inj.Clear()
	for range calls {
		select {
		case err := <-errs:
			if err != nil {
				t.Fatalf("released call failed: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Clear did not release every hung call")
		}
	}
	waitHeld(t, inj, 0)
	got := make([]byte, 1)
	inner.ReadAt(got, 6)
	if got[0] != 7 {
		t.Fatalf("released write did not reach the store: %#x", got[0])
	}
	// No goroutine is left behind: a hang waits in the caller's goroutine.
	for deadline := time.Now().Add(5 * time.Second); runtime.NumGoroutine() > before; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines after release, %d before", runtime.NumGoroutine(), before)
		}
	}
	if len(inj.Faults()) != 0 || len(inj.Fired()) != 0 || inj.FiredByKind()[Hang] != calls {
		t.Fatalf("after Clear: faults %v, fired %v, by kind %v", inj.Faults(), inj.Fired(), inj.FiredByKind())
	}
}

func TestSetReplacesAndReleases(t *testing.T) {
	inj := New(nil, nil)
	inj.Set([]Fault{{Op: Sync, Kind: Hang, Probability: 1}})
	b := inj.Wrap(backend.NewMemory(4096))
	done := make(chan error, 1)
	go func() { done <- b.Sync() }()
	waitHeld(t, inj, 1)
	inj.Set([]Fault{{Op: Sync, Kind: Error, Probability: 1}})
	if err := <-done; err != nil {
		t.Fatalf("the released sync failed: %v", err)
	}
	if err := b.Sync(); !errors.Is(err, ErrInjected) {
		t.Fatalf("the new fault did not apply: %v", err)
	}
	if got := inj.Fired(); len(got) != 1 || got[0] != 1 {
		t.Fatalf("Fired() = %v, want the new list's counts", got)
	}
}

func TestCommand(t *testing.T) {
	inj := New(nil, nil)
	inj.Set([]Fault{
		{Op: Write, Kind: Error, Probability: 1}, // backend kinds leave commands alone
		{Op: Write, Kind: LUNPanic, Probability: 1, Offset: 8192, Length: 512, Count: 1},
	})
	if p := catch(func() { inj.Command(Write, 0, 4096) }); p != nil {
		t.Fatalf("a write elsewhere panicked: %v", p)
	}
	if p := catch(func() { inj.Command(Other, 0, 0) }); p != nil {
		t.Fatalf("a command without IO panicked: %v", p)
	}
	p := catch(func() { inj.Command(Read|Write, 8192, 512) })
	if ip, ok := p.(*backend.InjectedPanic); !ok || ip.Off != 8192 {
		t.Fatalf("COMPARE AND WRITE over the range: panic %v", p)
	}
	if p := catch(func() { inj.Command(Write, 8192, 512) }); p != nil {
		t.Fatalf("count 1 fired twice: %v", p)
	}
	if got := inj.Fired(); got[0] != 0 || got[1] != 1 {
		t.Fatalf("Fired() = %v", got)
	}
}

func TestWrapKeepsOptionalInterfaces(t *testing.T) {
	f, err := backend.Open(backend.Options{Path: filepath.Join(t.TempDir(), "f.img"), Size: 1 << 20, Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := New(nil, nil).Wrap(f)
	if _, ok := b.(backend.Mapper); !ok {
		t.Error("Wrap hides a file backend's Mapper")
	}
	if _, ok := b.(backend.BlockSizer); ok {
		t.Error("Wrap made a file backend a BlockSizer")
	}
}

// TestWrapKeepsInterfaces: the wrapper of a file keeps its Mapper and the vectored
// calls, which pass through while no fault is set and answer ErrNoVector while one is.
func TestWrapKeepsInterfaces(t *testing.T) {
	b, err := backend.Open(backend.Options{Path: filepath.Join(t.TempDir(), "f.img"), Size: 1 << 20, Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	inj := New(nil, nil)
	w := inj.Wrap(b)
	if _, ok := w.(backend.Mapper); !ok {
		t.Fatal("the wrapper hides Mapper")
	}
	vr, ok := w.(backend.VectorReader)
	if !ok {
		t.Fatal("the wrapper hides the vectored read")
	}
	if _, ok := w.(backend.VectorWriter); !ok {
		t.Fatal("the wrapper hides the vectored write")
	}
	bufs := [][]byte{make([]byte, 512), make([]byte, 512)}
	if err := vr.ReadVec(bufs, 0); err != nil {
		t.Fatalf("ReadVec without faults: %v", err)
	}
	inj.Set([]Fault{{Op: Read, Kind: Error, Probability: 1}})
	if err := vr.ReadVec(bufs, 0); !errors.Is(err, backend.ErrNoVector) {
		t.Fatalf("ReadVec with a fault set: %v, want ErrNoVector", err)
	}
}
