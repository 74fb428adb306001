package inprocess

import (
	"sync"
	"testing"
	"time"

	"github.com/atgt/atgt/actors/target"
	"github.com/atgt/atgt/actors/trace"
	"github.com/atgt/atgt/tests/initiator"
)

// countSink counts the timelines it receives, and the bad ones.
type countSink struct {
	mu     sync.Mutex
	n, bad int
}

// Finished counts tl.
func (c *countSink) Finished(tl *trace.Timeline) {
	c.mu.Lock()
	c.n++
	if tl.Bad {
		c.bad++
	}
	c.mu.Unlock()
}

func (c *countSink) count() (int, int) { c.mu.Lock(); defer c.mu.Unlock(); return c.n, c.bad }

// TestSinkGetsBadTasksWithTraceOff: with the trace level off (atgtd's default, with
// -otlp alone) a task the flight recorder logs (a READ past the end) reaches the
// sinks, marked bad, and a good READ does not (it is not traced).
func TestSinkGetsBadTasksWithTraceOff(t *testing.T) {
	sink := &countSink{}
	svc := startWith(t, baseConfig(t), target.Options{TraceSinks: []trace.Sink{sink}})
	s := dial(t, svc.Addrs()[0], initiator.Options{})
	ready(t, s, 0)
	if _, err := s.Read(0, 8, 4, blockSize); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Read(0, lunSize/blockSize, 1, blockSize); err == nil {
		t.Fatal("READ past the end succeeded")
	}
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if _, bad := sink.count(); bad > 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n, bad := sink.count(); bad != 1 || n != 1 {
		t.Errorf("sink received %d timelines (%d bad) for a good and a bad (flight-recorded) READ with trace level off, want the bad one", n, bad)
	}
}
