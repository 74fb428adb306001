package gateway

import (
	"testing"
	"time"
)

// TestAnnounceWaitsForApply: an announced event reaches the other nodes, not the
// announcer, and Announce returns only once each has applied it.
func TestAnnounceWaitsForApply(t *testing.T) {
	hub := NewMemHub()
	a, err := Open(hub.Bus(), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(hub.Bus(), 2)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	self := make(chan Notice, 1)
	a.Attach(func(n Notice, ack func()) { self <- n; ack() })
	applied := make(chan Notice, 1)
	b.Attach(func(n Notice, ack func()) {
		time.Sleep(50 * time.Millisecond) // applying takes a while
		applied <- n
		ack()
	})
	start := time.Now()
	if err := a.Announce(LogicalUnitReset); err != nil {
		t.Fatal(err)
	}
	select {
	case n := <-applied:
		if n != (Notice{Kind: LogicalUnitReset, Group: 1}) {
			t.Fatalf("B applied %+v", n)
		}
	default:
		t.Fatal("Announce returned before B applied the event")
	}
	if time.Since(start) < 50*time.Millisecond {
		t.Fatal("Announce did not wait for B")
	}
	select {
	case n := <-self:
		t.Fatalf("A applied its own event %+v", n)
	default:
	}
}

// TestAnnounceGivesUp: a node that never acknowledges (hung) costs the announcer the
// timeout, then an error, never a hang.
func TestAnnounceGivesUp(t *testing.T) {
	hub := NewMemHub()
	a, _ := Open(hub.Bus(), 1)
	defer a.Close()
	a.timeout = 100 * time.Millisecond
	b, _ := Open(hub.Bus(), 2)
	defer b.Close()
	b.Attach(func(Notice, func()) {}) // never acks
	start := time.Now()
	if err := a.Announce(TargetReset); err == nil {
		t.Fatal("no error for a node that did not answer")
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Announce took %v", d)
	}
}

// TestWatchEndedWithoutErrorRewatched: a watch whose channel closes without an
// error event (backend.RadosWatch's pump when the watch's client was replaced
// after a blocklist before librados reported the loss) is watched again: the
// node still gets the events announced after it.
func TestWatchEndedWithoutErrorRewatched(t *testing.T) {
	hub := NewMemHub()
	a, err := Open(hub.Bus(), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	busB := hub.Bus()
	b, err := Open(busB, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	got := make(chan Notice, 4)
	b.Attach(func(n Notice, ack func()) { got <- n; ack() })
	hub.mu.Lock()
	close(hub.watchers[busB]) // ended, no Err
	delete(hub.watchers, busB)
	hub.mu.Unlock()
	deadline := time.Now().Add(5 * time.Second)
	for {
		hub.mu.Lock()
		_, watching := hub.watchers[busB]
		hub.mu.Unlock()
		if watching {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("B did not watch again after its watch ended without an error")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := a.Announce(LogicalUnitReset); err != nil {
		t.Fatal(err)
	}
	select {
	case n := <-got:
		if n != (Notice{Kind: LogicalUnitReset, Group: 1}) {
			t.Fatalf("B got %+v", n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("B never got the event")
	}
}
