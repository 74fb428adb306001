package cmdphase

import "sync/atomic"

// WriteBudget bounds the write data every connection of a target buffers at once
// (immediate, unsolicited and solicited data of commands not yet answered), so that
// the total is bounded however many connections there are. Connections share it;
// a WRITE takes its EDTL when admitted and gives it back when answered: one atomic
// add each way per WRITE, nothing per Data-Out PDU. A nil budget bounds nothing.
type WriteBudget struct {
	limit int64
	used  atomic.Int64
}

// NewWriteBudget returns a budget of limit bytes.
func NewWriteBudget(limit int64) *WriteBudget { return &WriteBudget{limit: limit} }

// take reserves n bytes, or reports false (and reserves nothing) when they would
// exceed the limit.
func (b *WriteBudget) take(n uint32) bool {
	if b == nil {
		return true
	}
	if b.used.Add(int64(n)) > b.limit {
		b.used.Add(-int64(n))
		return false
	}
	return true
}

// give returns n bytes taken before.
func (b *WriteBudget) give(n uint32) {
	if b != nil {
		b.used.Add(-int64(n))
	}
}

// Used is the bytes reserved now, for tests and metrics.
func (b *WriteBudget) Used() int64 {
	if b == nil {
		return 0
	}
	return b.used.Load()
}
