// Package sched runs actor mailboxes on long-lived goroutines. protoactor's default
// dispatcher starts a goroutine each time a mailbox becomes busy; that goroutine
// starts with a 2 KiB stack and grows it (copying the stack) on every turn, which
// costs about 15% of the target's CPU at 4 KiB IOs. A Pool hands a mailbox turn to a
// goroutine that is already parked and whose stack has already grown, and starts a new
// one only when none is free, so blocking IO workers never wait for each other.
package sched

import (
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
)

// Pool is a protoactor Dispatcher backed by a pool of reusable goroutines. It is
// unbounded (a blocked IO worker holds its goroutine, as with the default dispatcher)
// and keeps at most MaxIdle goroutines parked between turns.
type Pool struct {
	throughput int
	maxIdle    int32
	idle       atomic.Int32
	work       chan func()
	started    atomic.Int64
}

var _ actor.Dispatcher = (*Pool)(nil)

// NewPool returns a pool whose mailboxes process up to throughput messages before
// yielding (protoactor's meaning) and which keeps up to maxIdle goroutines parked.
func NewPool(throughput, maxIdle int) *Pool {
	return &Pool{throughput: throughput, maxIdle: int32(maxIdle), work: make(chan func())}
}

// Default is the pool every atgt actor runs on: protoactor's default throughput,
// and enough parked goroutines for a busy target's connections, LUNs and workers.
var Default = NewPool(300, 512)

// Schedule runs fn on a parked goroutine, or on a new one when none is parked.
func (p *Pool) Schedule(fn func()) {
	select {
	case p.work <- fn:
	default:
		p.started.Add(1)
		go p.loop(fn)
	}
}

// Throughput is the number of messages a mailbox processes per turn.
func (p *Pool) Throughput() int { return p.throughput }

// Started reports how many goroutines the pool has started, for tests and metrics.
func (p *Pool) Started() int64 { return p.started.Load() }

func (p *Pool) loop(fn func()) {
	for {
		fn()
		fn = nil
		if p.idle.Add(1) > p.maxIdle {
			p.idle.Add(-1)
			return
		}
		fn = <-p.work
		p.idle.Add(-1)
	}
}
