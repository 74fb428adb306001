package logging

import (
	"bytes"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
)

// DefaultAsyncBytes is how much output an Async holds for a slow sink by default.
const DefaultAsyncBytes = 1 << 20

// Async is a bounded buffer between loggers and their outputs, written out by one
// goroutine in the order the lines came. Actors log from their own goroutines, so
// a write that blocks (a pipe nobody reads: a stuck journald, a stalled log driver)
// would stop them answering; through Async a log call never waits for the output.
// When the buffer is full, lines are dropped and counted; once the output takes a
// line again, a WARN line says how many were dropped and for how long.
type Async struct {
	max    int          // bytes queued or being written, at most
	notice hclog.Logger // formats the dropped lines' notice into noticeBuf
	// noticeBuf is written only with mu held.
	noticeBuf bytes.Buffer
	total     atomic.Uint64 // lines dropped since the start

	mu      sync.Mutex
	queue   []entry
	pending int // bytes in queue and in the batch being written
	// dropped counts the lines dropped whose notice is not queued yet; while it
	// is not zero, no line is taken before the notice, so that the notice stands
	// where the lines went missing. dropStart is since when the output has taken
	// nothing (the start of the write in progress at the first drop); dropOut is
	// the first dropped line's output, where the notice goes.
	dropped   uint64
	dropStart time.Time
	dropOut   io.Writer
	// writeStart is when the write in progress began (zero while the writing
	// goroutine waits for lines): the output has taken nothing since.
	writeStart time.Time
	closing    bool

	wake chan struct{} // a line was queued or the buffer closes
	done chan struct{} // closed when the writing goroutine has ended
	once sync.Once
}

// entry is one line (one Write) for one output.
type entry struct {
	out io.Writer
	b   []byte
}

// NewAsync starts an Async holding at most maxBytes (0: DefaultAsyncBytes); its
// notices of dropped lines are hclog lines of the logger name. Close ends it.
func NewAsync(maxBytes int, name string) *Async {
	if maxBytes <= 0 {
		maxBytes = DefaultAsyncBytes
	}
	a := &Async{max: maxBytes, wake: make(chan struct{}, 1), done: make(chan struct{})}
	a.notice = hclog.New(&hclog.LoggerOptions{Name: name, Output: &a.noticeBuf, Level: hclog.Warn})
	go a.run()
	return a
}

// Writer returns an io.Writer whose writes go to out through a, each Write a line.
func (a *Async) Writer(out io.Writer) io.Writer {
	return asyncWriter{a: a, out: out}
}

// asyncWriter is one output of an Async.
type asyncWriter struct {
	a   *Async
	out io.Writer
}

// Write queues p for the output, or drops it when the buffer is full or closed. It
// never blocks on the output and never fails.
func (w asyncWriter) Write(p []byte) (int, error) {
	w.a.put(w.out, p)
	return len(p), nil
}

// Dropped is the number of lines dropped since the start, for a metric.
func (a *Async) Dropped() uint64 {
	return a.total.Load()
}

// put queues a copy of p for out.
func (a *Async) put(out io.Writer, p []byte) {
	a.mu.Lock()
	if a.closing {
		a.mu.Unlock()
		a.total.Add(1)
		return
	}
	if a.dropped > 0 && a.pending == 0 {
		// Nothing is being written (the lines dropped were each larger than the
		// buffer): the notice goes now.
		a.queueNotice()
	}
	if a.dropped > 0 || a.pending+len(p) > a.max {
		if a.dropped == 0 {
			// The output is blocked since the write in progress began.
			a.dropStart, a.dropOut = a.writeStart, out
			if a.dropStart.IsZero() {
				a.dropStart = time.Now()
			}
		}
		a.dropped++
		a.mu.Unlock()
		a.total.Add(1)
		return
	}
	a.queue = append(a.queue, entry{out: out, b: append([]byte(nil), p...)})
	a.pending += len(p)
	a.mu.Unlock()
	a.signal()
}

// signal wakes the writing goroutine.
func (a *Async) signal() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// queueNotice queues the line that says how many lines were dropped, with mu held.
// It is taken even past the bound: a short line, one per stall.
func (a *Async) queueNotice() {
	a.noticeBuf.Reset()
	a.notice.Warn(fmt.Sprintf("%d log lines dropped: log output blocked for %v", a.dropped,
		time.Since(a.dropStart).Round(time.Millisecond)))
	a.queue = append(a.queue, entry{out: a.dropOut, b: bytes.Clone(a.noticeBuf.Bytes())})
	a.pending += a.noticeBuf.Len()
	a.dropped, a.dropOut = 0, nil
}

// run writes the queued lines out until Close, then what is left.
func (a *Async) run() {
	defer close(a.done)
	var batch []entry
	for {
		a.mu.Lock()
		for len(a.queue) == 0 {
			if a.dropped > 0 && a.pending == 0 {
				a.queueNotice()
				continue
			}
			if a.closing {
				a.mu.Unlock()
				return
			}
			a.writeStart = time.Time{}
			a.mu.Unlock()
			<-a.wake
			a.mu.Lock()
		}
		batch, a.queue = a.queue, batch[:0]
		a.writeStart = time.Now()
		a.mu.Unlock()
		for i, e := range batch {
			_, _ = e.out.Write(e.b) // an output that fails (EPIPE) loses its lines, as before
			a.mu.Lock()
			a.pending -= len(e.b)
			if a.dropped > 0 {
				// The output took a line: it drains again.
				a.queueNotice()
			}
			a.writeStart = time.Now()
			a.mu.Unlock()
			batch[i] = entry{}
		}
	}
}

// Close takes no more lines (later ones are dropped) and waits at most timeout for
// the buffered ones, with the notice of any dropped, to be written. It reports
// whether they all were; when not, the output is blocked and the rest is lost at
// exit. Safe to call more than once and concurrently.
func (a *Async) Close(timeout time.Duration) bool {
	a.once.Do(func() {
		a.mu.Lock()
		a.closing = true
		a.mu.Unlock()
		a.signal()
	})
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-a.done:
		return true
	case <-t.C:
		return false
	}
}
