package conn

import "sync/atomic"

// minShare is the fair share of the ReadBudget no connection goes below: one
// command of the LUNs' maximum transfer (scsidev.MaxTransferBytes). A connection
// that holds no more than it is never paused by the budget, so a connection that
// holds nothing always runs at least one READ, and an honest reader keeps a
// pipeline however many slow ones share the target.
const minShare = 4 << 20

// ReadBudget bounds the Data-In all the connections of a target owe or hold
// together: what each connection's flow counts against maxDataInBytes (the EDTL of
// its reading commands not yet answered plus the responses queued for its writer).
// The connections add to it where they add to their own counters, once per batch
// (a reader message, an actor turn, a writev): one more atomic add each, no lock.
//
// Past the limit, a connection that holds more than its fair share (the limit over
// the connections that hold more than minShare, and at least minShare) parses no
// further PDU until it holds less, as it does past its own maxDataInBytes: its
// initiator's sends then wait in TCP. Its own drain wakes it (flow.signal), so it
// waits for nobody else. A connection over its share whose peer does not read is
// ended by the write timeout or the minimum drain rate (writer.go). So while the
// target is over the limit each connection holds at most max(limit/holders,
// minShare) plus one command (at most 4 MiB): in all at most about the limit plus
// 4 MiB per connection, or 8 MiB per connection once more than limit/4 MiB
// connections hold Data-In. A nil budget bounds nothing.
type ReadBudget struct {
	limit int64
	// held is the sum of every live connection's flow.queued and flow.reads.
	held atomic.Int64
	// holders counts the connections holding more than minShare (flow.holder).
	holders atomic.Int32
	// pauses counts the waits of a reader that the budget caused.
	pauses atomic.Uint64
	// slow counts the connections ended for draining Data-In below minDrainRate.
	slow atomic.Uint64
}

// NewReadBudget returns a budget of limit bytes.
func NewReadBudget(limit int64) *ReadBudget { return &ReadBudget{limit: limit} }

// Limit is the budget's bytes (0 for a nil budget).
func (b *ReadBudget) Limit() int64 {
	if b == nil {
		return 0
	}
	return b.limit
}

// Held is the Data-In all connections owe or hold now, for metrics and tests.
func (b *ReadBudget) Held() int64 {
	if b == nil {
		return 0
	}
	return b.held.Load()
}

// Pauses is how many times a connection's reader waited because of the budget.
func (b *ReadBudget) Pauses() uint64 {
	if b == nil {
		return 0
	}
	return b.pauses.Load()
}

// SlowEnds is how many connections were ended because their peers drained their
// Data-In slower than minDrainRate.
func (b *ReadBudget) SlowEnds() uint64 {
	if b == nil {
		return 0
	}
	return b.slow.Load()
}

// share is what one connection may hold while the target is over the limit; join
// counts one holder more (a connection about to become one).
func (b *ReadBudget) share(join bool) int64 {
	n := int64(b.holders.Load())
	if join {
		n++
	}
	if n < 1 {
		n = 1
	}
	return max(b.limit/n, minShare)
}

// over reports whether the connection of f, were it to hold own bytes (n of them
// not yet added to the budget), must parse no further PDU. Below minShare it
// answers without touching the shared counters, so small IO never reads them.
func (b *ReadBudget) over(f *flow, own, n int64) bool {
	if b == nil || own <= minShare || b.held.Load()+n <= b.limit {
		return false
	}
	return own > b.share(!f.holder.Load())
}

// add counts n more bytes (n < 0: fewer) held by the connection of f, and keeps
// f's place among the holders. Called where f's counters change, after them.
func (b *ReadBudget) add(f *flow, n int64) {
	b.held.Add(n)
	h := f.queued.Load()+f.reads.Load() > minShare
	if h != f.holder.Load() && f.holder.CompareAndSwap(!h, h) {
		if h {
			b.holders.Add(1)
		} else {
			b.holders.Add(-1)
		}
	}
}

// release takes what the connection of f still counts off the budget, once its
// reader, writer and actor are done with f.
func (b *ReadBudget) release(f *flow) {
	b.held.Add(-(f.queued.Load() + f.reads.Load()))
	if f.holder.CompareAndSwap(true, false) {
		b.holders.Add(-1)
	}
}
