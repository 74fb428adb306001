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
// past it, one over its fair share (the limit over the holders, at least
// minShare) waits and one under it does not, and the share grows back as holders
// leave.
func TestReadBudgetShare(t *testing.T) {
	const mib = 1 << 20
	b := NewReadBudget(32 * mib)
	a, c := budgetFlow(b), budgetFlow(b)

	a.addReads(30 * mib) // under the limit: only its own 64 MiB bounds it
	if a.over() || a.overWith(2*mib) {
		t.Fatal("a connection under the target's limit paused")
	}
	a.addReads(10 * mib) // 40 MiB: over the limit, and over its share (32 MiB, alone)
	if !a.over() {
		t.Fatalf("a connection holding 40 MiB of a 32 MiB budget alone not paused (held %d, holders %d)", b.Held(), b.holders.Load())
	}
	if c.over() || c.overWith(4*mib) {
		t.Fatal("a connection holding nothing paused: it must always run one READ")
	}
	if !c.overWith(20 * mib) {
		t.Fatal("a connection taking 20 MiB past the limit not stopped at its share (16 MiB with two holders)")
	}
	c.addReads(10 * mib) // two holders: a share of 16 MiB each
	if got := b.holders.Load(); got != 2 {
		t.Fatalf("holders %d, want 2", got)
	}
	if c.over() {
		t.Fatal("a connection holding 10 MiB (under its 16 MiB share) paused")
	}
	c.addQueued(7 * mib) // 17 MiB: over its share
	if !c.over() {
		t.Fatal("a connection holding 17 MiB (over its 16 MiB share, the target over) not paused")
	}
	c.sent(7 * mib)
	a.answered(-38 * mib) // a drains to 2 MiB: no longer a holder
	if got := b.holders.Load(); got != 1 {
		t.Fatalf("holders %d after a drained, want 1", got)
	}
	if a.over() {
		t.Fatal("a drained connection still paused")
	}
	if got := b.Held(); got != 12*mib {
		t.Fatalf("held %d, want %d", got, 12*mib)
	}
}

// TestReadBudgetFloor: however many connections hold Data-In, the share is never
// below minShare, so each keeps a pipeline of at least one maximum transfer.
func TestReadBudgetFloor(t *testing.T) {
	b := NewReadBudget(16 << 20)
	var fs []*flow
	for range 64 {
		f := budgetFlow(b)
		f.addReads(minShare + 1)
		fs = append(fs, f)
	}
	if got := b.share(false); got != minShare {
		t.Fatalf("share %d with 64 holders of a 16 MiB budget, want the floor %d", got, minShare)
	}
	fresh := budgetFlow(b)
	if fresh.overWith(minShare) {
		t.Fatal("a connection holding nothing may not take one maximum transfer")
	}
	if !fs[0].over() {
		t.Fatal("a holder over the floor past the limit not paused")
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
	if b.Held() != 0 || b.holders.Load() != 0 {
		t.Fatalf("after release: held %d, holders %d, want 0 and 0", b.Held(), b.holders.Load())
	}
}

// TestReadBudgetWake: a reader paused by the budget is counted and woken by its own
// connection's drain, without any other connection moving.
func TestReadBudgetWake(t *testing.T) {
	b := NewReadBudget(16 << 20)
	other, f := budgetFlow(b), budgetFlow(b)
	other.addReads(32 << 20) // keeps the target over its limit throughout
	f.addQueued(10 << 20)    // over its share of 8 MiB
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
