package conn

import (
	"testing"
	"time"
)

// budgetFlow is a flow counted in b.
func budgetFlow(b *ReadBudget) *flow {
	f := newFlow()
	f.budget = b
	return f
}

// TestReadBudgetShare: under the limit every connection runs to its own bound;
// past it, one holding more than minShare waits and one holding less takes one
// more command, and all run again once the target is back under the limit.
func TestReadBudgetShare(t *testing.T) {
	const mib = 1 << 20
	b := NewReadBudget(32 * mib)
	a, c := budgetFlow(b), budgetFlow(b)

	a.addReads(30 * mib) // under the limit: only its own 64 MiB bounds it
	if a.over() || a.overWith(2*mib) {
		t.Fatal("a connection under the target's limit paused")
	}
	if !a.overWith(3 * mib) {
		t.Fatal("a message taking the target past its limit not ended there")
	}
	a.addReads(10 * mib) // 40 MiB: the target is over its limit
	if !a.over() {
		t.Fatalf("a connection holding 40 MiB of a 32 MiB budget not paused (held %d)", b.Held())
	}
	if c.over() || c.overWith(minShare) {
		t.Fatal("a connection holding nothing paused: it must always run one READ")
	}
	if !c.overWith(minShare + 1) {
		t.Fatal("a connection taking more than minShare past the limit not stopped")
	}
	c.addReads(minShare)
	c.addQueued(1)
	if !c.over() {
		t.Fatal("a connection holding more than minShare past the limit not paused")
	}
	c.sent(1)
	if c.over() {
		t.Fatal("a connection back at minShare still paused")
	}
	a.answered(-38 * mib) // a drains to 2 MiB: the target is under its limit
	if a.over() || c.overWith(20*mib) {
		t.Fatal("connections paused under the limit")
	}
	if got := b.Held(); got != 2*mib+minShare {
		t.Fatalf("held %d, want %d", got, 2*mib+minShare)
	}
}

// TestReadBudgetFloor: however many connections fill the budget, each holds at
// most minShare and one command more past the limit: the whole is bounded by the
// limit plus that per connection.
func TestReadBudgetFloor(t *testing.T) {
	const cmd = 4 << 20
	b := NewReadBudget(16 << 20)
	var fs []*flow
	for range 64 {
		f := budgetFlow(b)
		// The reader's rule: take commands until overWith says the message ends.
		var reads int64
		for {
			reads += cmd
			if f.overWith(reads) {
				break
			}
		}
		f.addReads(reads)
		fs = append(fs, f)
	}
	if bound := int64(16<<20) + 64*(minShare+cmd); b.Held() > bound {
		t.Fatalf("64 connections hold %d past a 16 MiB budget, want at most %d", b.Held(), bound)
	}
	for _, f := range fs[4:] {
		if own := f.reads.Load(); own > minShare+cmd {
			t.Fatalf("a connection arriving past the limit holds %d, want at most %d", own, minShare+cmd)
		}
	}
	if fresh := budgetFlow(b); fresh.overWith(minShare) {
		t.Fatal("a connection holding nothing may not take one maximum transfer")
	}
}

// TestReadBudgetRelease: a connection's share goes back to the budget when the
// last of its reader, writer and actor is done, whatever it still counted.
func TestReadBudgetRelease(t *testing.T) {
	b := NewReadBudget(16 << 20)
	f := budgetFlow(b)
	f.addReads(10 << 20)
	f.addQueued(3 << 20)
	for i := range flowUsers {
		if b.Held() == 0 {
			t.Fatalf("released after %d of %d users", i, flowUsers)
		}
		f.done1()
	}
	if b.Held() != 0 {
		t.Fatalf("after release: held %d, want 0", b.Held())
	}
}

// TestReadBudgetWake: a reader paused by the budget is counted and woken by its own
// connection's drain, while the target stays over its limit.
func TestReadBudgetWake(t *testing.T) {
	b := NewReadBudget(16 << 20)
	other, f := budgetFlow(b), budgetFlow(b)
	other.addReads(32 << 20) // keeps the target over its limit throughout
	f.addQueued(10 << 20)    // more than minShare
	done := make(chan struct{})
	go func() { f.wait(); close(done) }()
	select {
	case <-done:
		t.Fatal("wait returned while over the share")
	case <-time.After(50 * time.Millisecond):
	}
	if b.Pauses() != 1 {
		t.Fatalf("pauses %d, want 1", b.Pauses())
	}
	f.sent(7 << 20) // 3 MiB: under the floor
	select {
	case <-done:
	case <-time.After(time.Second):
		t.Fatal("wait not released when the connection drained under its share")
	}
}

// TestReadBudgetNil: without a budget nothing changes but the per-connection
// bounds.
func TestReadBudgetNil(t *testing.T) {
	var b *ReadBudget
	f := budgetFlow(b)
	f.addReads(maxDataInBytes - 1)
	if f.over() || b.Held() != 0 || b.Limit() != 0 {
		t.Fatal("a nil budget bounded something")
	}
	if !f.overWith(2) {
		t.Fatal("the per-connection bound is gone")
	}
	f.done1()
	f.done1()
	f.done1()
}

// TestDrainWindow: the window judges the rate over at least a timeout, only while
// the connection holds enough to matter, and starts again after each judgement.
func TestDrainWindow(t *testing.T) {
	const timeout = 2 * time.Second
	fl := newFlow()
	fl.queued.Store(64 << 20)
	t0 := time.Unix(1000, 0)
	var d drainWindow
	d.begin(t0)
	d.bytes = 100 << 10 // 100 KiB in 2 s: 50 KiB/s
	if err := d.check(t0.Add(timeout/2), timeout, fl); err != nil {
		t.Fatalf("judged before a whole timeout: %v", err)
	}
	if err := d.check(t0.Add(timeout), timeout, fl); err == nil {
		t.Fatal("50 KiB/s over a whole timeout with 64 MiB held not ended")
	} else {
		t.Log(err)
	}
	d.reset()
	d.begin(t0)
	d.bytes = 200 << 10 // 100 KiB/s
	if err := d.check(t0.Add(timeout), timeout, fl); err != nil {
		t.Fatalf("100 KiB/s ended: %v", err)
	}
	if !d.start.Equal(t0.Add(timeout)) || d.bytes != 0 {
		t.Fatal("a judged window did not start again")
	}
	fl.queued.Store(64 << 10) // less than a timeout at the floor rate
	if err := d.check(t0.Add(2*timeout), timeout, fl); err != nil {
		t.Fatalf("a connection holding 64 KiB ended by the drain rate: %v", err)
	}
}
