package conn

import "sync/atomic"

// minShare is what every connection may hold whatever the ReadBudget says: one
// command of the LUNs' maximum transfer (scsidev.MaxTransferBytes). A connection
// that holds no more than it is never paused by the budget, so a connection that
// holds nothing always runs at least one READ, and an honest reader keeps a
// pipeline (32 READs of 128 KiB, 1024 of 4 KiB) however many slow ones fill the
// target's budget.
const minShare = 4 << 20

// ReadBudget bounds the Data-In all the connections of a target owe or hold
// together: what each connection's flow counts against maxDataInBytes (the EDTL of
// its reading commands not yet answered plus the responses queued for its writer).
// The connections add to it where they add to their own counters, once per batch
// (a reader message, an actor turn, a writev): one more atomic add each, no lock.
//
// Past the limit, a connection that holds more than minShare parses no further PDU
// until the target is under the limit or it holds no more than minShare, as it
// does past its own maxDataInBytes: its initiator's sends then wait in TCP. Its
// own drain wakes it (flow.signal), so it waits for nobody else, and one holding
// no more than minShare is never paused. A connection whose peer does not read is
// ended by the write timeout or the minimum drain rate (drain.go), which gives
// its share back.
//
// So while the target is over the limit every connection keeps a pipeline of
// minShare plus one command, and the whole is at most the limit plus, per
// connection holding Data-In, one command and minShare: limit + 8 MiB × holders.
// A share of limit/holders was tried and measured: granted while over the limit it
// is not taken back from those that hold it, so each newcomer got limit/k more
// (the harmonic sum: six non-reading connections on 64 MiB held 164 MiB).
// A nil budget bounds nothing.
type ReadBudget struct {
	limit int64
	// held is the sum of every live connection's flow.queued and flow.reads.
	held atomic.Int64
	// pauses counts the waits of a reader that the budget caused.
	pauses atomic.Uint64
	// slow counts the connections ended for taking their responses too slowly: below
	// minDrainRate, or nothing for a whole write timeout (slowPeer).
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

// over reports whether a connection that would hold own bytes (n of them not yet
// added to the budget) must parse no further PDU. Up to minShare it answers
// without reading the shared counter, so small IO never touches it here.
func (b *ReadBudget) over(own, n int64) bool {
	return b != nil && own > minShare && b.held.Load()+n > b.limit
}

// add counts n more bytes (n < 0: fewer) held by a connection. Called where the
// connection's flow counters change, after them.
func (b *ReadBudget) add(n int64) { b.held.Add(n) }

// release takes what the connection of f still counts off the budget, once its
// reader, writer and actor are done with f.
func (b *ReadBudget) release(f *flow) { b.held.Add(-(f.queued.Load() + f.reads.Load())) }
