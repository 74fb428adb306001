package logging

import (
	"bytes"
	"fmt"
	"io"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

// gate is an output whose writes wait until it is opened, as a pipe nobody reads.
type gate struct {
	entered chan struct{} // one value per Write that started
	open    chan struct{} // closed to let the writes through
	mu      sync.Mutex
	buf     bytes.Buffer
}

func newGate() *gate {
	return &gate{entered: make(chan struct{}, 1<<16), open: make(chan struct{})}
}

func (g *gate) Write(p []byte) (int, error) {
	g.entered <- struct{}{}
	<-g.open
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.buf.Write(p)
}

func (g *gate) String() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.buf.String()
}

// lines is an output that records each write.
type lines struct {
	mu    sync.Mutex
	name  string
	all   *[]string // shared by the outputs of one test, to see their order
	delay time.Duration
}

func (l *lines) Write(p []byte) (int, error) {
	if l.delay > 0 {
		time.Sleep(l.delay)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	*l.all = append(*l.all, l.name+":"+string(p))
	return len(p), nil
}

// nb writes p to w and fails the test if the write does not return within 2 s
// (the output it goes to may be blocked: the write must not wait for it).
func nb(t *testing.T, w io.Writer, p []byte) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		if n, err := w.Write(p); n != len(p) || err != nil {
			t.Errorf("Write(%q) = %d, %v", p, n, err)
		}
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatalf("Write(%q) blocked for 2 s on a blocked output", p)
	}
}

// runGoroutines counts the goroutines running (*Async).run.
func runGoroutines() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	return strings.Count(string(buf), "logging.(*Async).run(")
}

// TestAsyncOrder: lines written through two outputs of one Async come out in the
// order they were written, each whole, all of them by Close.
func TestAsyncOrder(t *testing.T) {
	var got []string // written by the one writing goroutine
	a := NewAsync(0, "test")
	out, errw := a.Writer(&lines{name: "out", all: &got}), a.Writer(&lines{name: "err", all: &got})
	var want []string
	for i := range 2000 {
		w, name := out, "out"
		if i%3 == 0 {
			w, name = errw, "err"
		}
		line := fmt.Sprintf("line %d\n", i)
		if n, err := w.Write([]byte(line)); n != len(line) || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
		want = append(want, name+":"+line)
	}
	if !a.Close(2 * time.Second) {
		t.Fatal("Close did not flush a healthy output within 2 s")
	}
	if len(got) != len(want) {
		t.Fatalf("%d lines written, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("line %d is %q, want %q", i, got[i], want[i])
		}
	}
	if a.Dropped() != 0 {
		t.Errorf("Dropped = %d with a healthy output", a.Dropped())
	}
}

// noticeRE is the line Async writes once the output takes lines again.
var noticeRE = regexp.MustCompile(`^\S+ \[WARN\]  test: (\d+) log lines dropped: log output blocked for (\S+)\n$`)

// TestAsyncDropsAndNotice: with the output blocked, lines that do not fit are
// dropped and counted (not written later), none taken after the first drop; when
// the output takes a line again, one WARN line says how many and how long it was
// blocked, in the place where they went missing, and lines go on after it.
func TestAsyncDropsAndNotice(t *testing.T) {
	g := newGate()
	a := NewAsync(101, "test")
	w := a.Writer(g)
	line := func(i int) []byte { return []byte(fmt.Sprintf("line %03d\n", i)) } // 9 bytes
	start := time.Now()
	nb(t, w, line(0))
	<-g.entered // the writing goroutine is stuck in the output with line 0
	for i := 1; i <= 10; i++ {
		nb(t, w, line(i)) // 11 lines of 9 bytes: 99 of the 101
	}
	for i := 11; i <= 15; i++ {
		nb(t, w, line(i)) // no room: dropped
	}
	nb(t, w, []byte("x\n")) // would fit, but comes after drops: dropped too
	if got := a.Dropped(); got != 6 {
		t.Fatalf("Dropped = %d, want 6", got)
	}
	time.Sleep(50 * time.Millisecond)
	close(g.open)
	// Lines written once the output drains come after the notice.
	deadline := time.Now().Add(2 * time.Second)
	for !strings.Contains(g.String(), "dropped") && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	w.Write(line(16))
	if !a.Close(2 * time.Second) {
		t.Fatal("Close did not flush within 2 s")
	}
	blocked := time.Since(start)
	got := strings.SplitAfter(g.String(), "\n")
	got = got[:len(got)-1]
	if len(got) != 13 {
		t.Fatalf("%d lines written, want 11, the notice and one more:\n%s", len(got), g)
	}
	for i := 0; i <= 10; i++ {
		if got[i] != string(line(i)) {
			t.Fatalf("line %d is %q, want %q", i, got[i], line(i))
		}
	}
	m := noticeRE.FindStringSubmatch(got[11])
	if m == nil {
		t.Fatalf("line 11 is %q, want the notice of the dropped lines", got[11])
	}
	if m[1] != "6" {
		t.Errorf("notice counts %s lines, want 6", m[1])
	}
	if d, err := time.ParseDuration(m[2]); err != nil || d < 50*time.Millisecond || d > blocked {
		t.Errorf("notice says blocked for %s, want between 50ms (held) and %v", m[2], blocked)
	}
	if got[12] != string(line(16)) {
		t.Errorf("last line is %q, want %q", got[12], line(16))
	}
	if a.Dropped() != 6 {
		t.Errorf("Dropped = %d after the drain, want 6 (a total)", a.Dropped())
	}
}

// TestAsyncLoggerNeverBlocks: an hclog logger writing through an Async to an output
// that never takes a line: log calls from many goroutines still return at once.
func TestAsyncLoggerNeverBlocks(t *testing.T) {
	g := newGate()
	a := NewAsync(4096, "test")
	log := hclog.New(&hclog.LoggerOptions{Name: "test", Output: a.Writer(g), Level: hclog.Debug})
	done := make(chan struct{})
	go func() {
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 2000 {
					log.Warn("a line that the output will not take", "i", i)
				}
			}()
		}
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("16000 log calls did not return within 10 s with the output blocked")
	}
	if d := a.Dropped(); d < 16000-4096/40 {
		t.Errorf("Dropped = %d of 16000 lines with a 4 KiB buffer and the output blocked", d)
	}
	begin := time.Now()
	if a.Close(100 * time.Millisecond) {
		t.Error("Close reported a flush with the output blocked")
	}
	if took := time.Since(begin); took > time.Second {
		t.Errorf("Close(100ms) took %v with the output blocked", took)
	}
	close(g.open) // the stuck goroutine ends (see TestAsyncCloseNoLeak)
}

// TestAsyncFlushAtClose: at Close every buffered line reaches a slow (not blocked)
// output, and the writing goroutine is gone once Close returns; a line written
// after Close is dropped and counted, without an error.
func TestAsyncFlushAtClose(t *testing.T) {
	before := runGoroutines()
	var got []string
	a := NewAsync(0, "test")
	w := a.Writer(&lines{name: "out", all: &got, delay: 200 * time.Microsecond})
	for i := range 500 {
		w.Write([]byte(strconv.Itoa(i) + "\n"))
	}
	if !a.Close(2 * time.Second) {
		t.Fatal("Close did not flush 500 lines within 2 s")
	}
	if len(got) != 500 || got[499] != "out:499\n" {
		t.Fatalf("%d lines written by Close, want 500", len(got))
	}
	if n, err := w.Write([]byte("late\n")); n != 5 || err != nil {
		t.Errorf("Write after Close = %d, %v; want 5, nil", n, err)
	}
	if a.Dropped() != 1 || len(got) != 500 {
		t.Errorf("after Close: Dropped = %d, %d lines written; want 1 and 500", a.Dropped(), len(got))
	}
	if !a.Close(time.Second) {
		t.Error("a second Close reported no flush")
	}
	waitRunGoroutines(t, before)
}

// TestAsyncCloseNoLeak: an Async closed while its output is blocked keeps its
// goroutine in the output's write only until the write returns; then it ends,
// writing what was buffered and the notice of the lines dropped.
func TestAsyncCloseNoLeak(t *testing.T) {
	before := runGoroutines()
	g := newGate()
	a := NewAsync(20, "test")
	w := a.Writer(g)
	nb(t, w, []byte("one\n"))
	<-g.entered
	nb(t, w, []byte("two\n"))
	nb(t, w, []byte("a line too long for the buffer\n"))
	if a.Close(50 * time.Millisecond) {
		t.Fatal("Close reported a flush with the output blocked")
	}
	close(g.open)
	waitRunGoroutines(t, before)
	got := strings.SplitAfter(g.String(), "\n")
	if len(got) != 4 || got[0] != "one\n" || got[1] != "two\n" || noticeRE.FindStringSubmatch(got[2]) == nil {
		t.Fatalf("output after the close %q; want one, two and the notice", got)
	}
	if m := noticeRE.FindStringSubmatch(got[2]); m[1] != "1" {
		t.Errorf("notice counts %s lines, want 1", m[1])
	}
}

// waitRunGoroutines waits up to a second for the Async goroutines to be back to want.
func waitRunGoroutines(t *testing.T, want int) {
	t.Helper()
	for end := time.Now().Add(time.Second); ; time.Sleep(time.Millisecond) {
		n := runGoroutines()
		if n <= want {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("%d Async goroutines still running, want %d", n, want)
		}
	}
}
