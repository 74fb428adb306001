package zerocopy

import "sync"

// Ledger is one connection's account of the READs answered to it from the page
// cache and not yet sent. Each must end exactly once, releasing its LUN's count:
// when the writer has sent it, when the connection drops the answer (an aborted
// task), or, for answers still on their way to a connection that has gone, when the
// connection closes its ledger. After Close, Add refuses, so IO workers read later
// answers into buffers as usual.
type Ledger struct {
	id      uint64
	mu      sync.Mutex
	closed  bool
	pending map[*Source]int
}

// NewLedger returns an open ledger, named by its ID in ScsiTasks.
func NewLedger() *Ledger {
	l := &Ledger{pending: map[*Source]int{}}
	l.id = ledgers.add(l)
	return l
}

// LookupLedger returns the open ledger with id, or nil.
func LookupLedger(id uint64) *Ledger { return ledgers.get(id) }

// ID names the ledger in ScsiTasks; 0 is never used.
func (l *Ledger) ID() uint64 { return l.id }

// Add records one READ from src about to be answered without its data; false if the
// ledger is closed (the worker then reads the data itself).
func (l *Ledger) Add(src *Source) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.pending[src]++
	return true
}

// Done ends one READ from src: sent or dropped. After Close it does nothing, since
// Close ended every pending READ already.
func (l *Ledger) Done(src *Source) {
	l.mu.Lock()
	n, ok := l.pending[src]
	if l.closed || !ok {
		l.mu.Unlock()
		return
	}
	if n == 1 {
		delete(l.pending, src)
	} else {
		l.pending[src] = n - 1
	}
	l.mu.Unlock()
	src.sent()
}

// Close ends every pending READ and refuses new ones. A writer still sending one
// may finish, but its LUN no longer waits for it: the connection is going away.
func (l *Ledger) Close() {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	pending := l.pending
	l.pending = nil
	l.mu.Unlock()
	ledgers.remove(l.id)
	for src, n := range pending {
		for range n {
			src.sent()
		}
	}
}

// Pending reports how many READs the ledger holds (for tests and debugging).
func (l *Ledger) Pending() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, c := range l.pending {
		n += c
	}
	return n
}
