package conn

import "sync/atomic"

// Bounds on what one connection holds between its socket's two directions. The
// reader stops reading the socket while either is exceeded, so that a peer that
// sends without reading the answers (or faster than the connection handles them)
// finds its sends blocked by TCP, and the write timeout then ends it.
const (
	// maxQueuedBytes is how many bytes of responses may wait for the writer.
	maxQueuedBytes = 8 << 20
	// maxUnread is how many of the reader's messages (each up to maxBatchPDUs PDUs
	// or one large data segment) may wait in the actor's mailbox.
	maxUnread = 16
)

// flow is a connection's backpressure between its actor, reader and writer. The
// counters are updated once per batch (a socket read, a turn's PDUs, a writev),
// not per PDU.
type flow struct {
	// queued counts the bytes handed to the writer and not yet written.
	queued atomic.Int64
	// unread counts the reader's messages the actor has not yet taken.
	unread atomic.Int32
	// waiting is set while the reader waits for the others to catch up.
	waiting atomic.Bool
	wake    chan struct{}
	// done is closed when the writer has ended (the socket is closed): the
	// reader waits no more.
	done     chan struct{}
	doneOnce atomic.Bool
}

func newFlow() *flow {
	return &flow{wake: make(chan struct{}, 1), done: make(chan struct{})}
}

// over reports whether the reader should wait.
func (f *flow) over() bool {
	return f.queued.Load() > maxQueuedBytes || f.unread.Load() > maxUnread
}

// wait returns once the connection has room for more input, or is closed. Called by
// the reader before it reads the socket.
func (f *flow) wait() {
	if !f.over() {
		return // the common case: two loads
	}
	defer f.waiting.Store(false)
	for {
		f.waiting.Store(true)
		if !f.over() { // re-checked after waiting is published: no lost wakeup
			return
		}
		select {
		case <-f.wake:
		case <-f.done:
			return
		}
	}
}

// signal wakes a waiting reader if there is room again.
func (f *flow) signal() {
	if f.waiting.Load() && !f.over() {
		select {
		case f.wake <- struct{}{}:
		default:
		}
	}
}

// sent records n bytes written by the writer.
func (f *flow) sent(n int64) {
	f.queued.Add(-n)
	f.signal()
}

// taken records a reader message taken by the actor.
func (f *flow) taken() {
	f.unread.Add(-1)
	f.signal()
}

// closed ends every wait, once.
func (f *flow) closed() {
	if f.doneOnce.CompareAndSwap(false, true) {
		close(f.done)
	}
}
