package conn

import (
	"sync/atomic"

	"github.com/atgt/atgt/actors/cmdphase"
)

// Bounds on what one connection holds between its socket's two directions. The
// reader stops reading the socket while any is exceeded (or the target's
// ReadBudget says so), so that a peer that sends without reading the answers (or
// faster than the connection handles them) finds its sends blocked by TCP, and
// the write timeout or the minimum drain rate (drain.go) then ends it.
const (
	// maxQueuedBytes is how many bytes of responses may wait for the writer.
	maxQueuedBytes = 8 << 20
	// maxUnread is how many of the reader's messages (each up to maxBatchPDUs PDUs
	// or one large data segment) may wait in the actor's mailbox.
	maxUnread = 16
	// maxDataInBytes bounds the Data-In one connection may owe or have queued: the
	// EDTL of its commands that read and are not yet answered (the reader's, in the
	// mailbox, and the machine's, admitted) plus the responses queued for the
	// writer. The reader takes no command while it is exceeded, so a peer that
	// sends READs and does not read their data makes the target hold at most this
	// (plus one command's data, at most the LUN's 4 MiB maximum transfer) until the
	// write timeout ends it. A queue of 16 READs of 4 MiB (or 64 of 1 MiB) fits.
	maxDataInBytes = 64 << 20
)

// flow is a connection's backpressure between its actor, reader and writer. The
// counters are updated once per batch (a socket read, a turn's PDUs, a writev),
// not per PDU, and queued and reads are added to the target's ReadBudget with them.
type flow struct {
	// queued counts the bytes handed to the writer and not yet written.
	queued atomic.Int64
	// unread counts the reader's messages the actor has not yet taken.
	unread atomic.Int32
	// reads is the EDTL (each capped: readCharge) of the commands that read which
	// the reader parsed and the connection has not answered: added by the reader
	// once per message, moved to the machine's DataInHeld and taken off by the
	// actor once per turn.
	reads atomic.Int64
	// tmfs counts the task management requests the reader parsed and the
	// connection has not answered, as reads counts READs: the reader stops at
	// cmdphase.MaxOutstandingTMFs.
	tmfs atomic.Int64
	// waiting is set while the reader waits for the others to catch up.
	waiting atomic.Bool
	wake    chan struct{}
	// done is closed when the writer has ended (the socket is closed): the
	// reader waits no more.
	done     chan struct{}
	doneOnce atomic.Bool
	// readerDone is closed when the reader has ended (a half-closed socket's
	// writer waits for it).
	readerDone chan struct{}

	// budget is the target's ReadBudget (nil: none), which queued and reads are
	// added to as well.
	budget *ReadBudget
	// maxRead caps what one command that reads adds to reads (0: no cap): the
	// command phase's MaxTaskBytes (cmdphase.ReadCharge).
	maxRead uint32
	// users counts the reader, the writer and the actor until each is done with
	// the flow: the last takes the connection's share off the budget.
	users atomic.Int32
}

// flowUsers are the activities that change a flow's counters: the reader, the
// writer and the actor.
const flowUsers = 3

func newFlow() *flow {
	f := &flow{wake: make(chan struct{}, 1), done: make(chan struct{}), readerDone: make(chan struct{})}
	f.users.Store(flowUsers)
	return f
}

// over reports whether the reader should wait.
func (f *flow) over() bool {
	q := f.queued.Load()
	own := q + f.reads.Load()
	return q > maxQueuedBytes || f.unread.Load() > maxUnread || own > maxDataInBytes || f.budget.over(own, 0) ||
		f.tmfs.Load() >= cmdphase.MaxOutstandingTMFs
}

// tmfsFull reports whether n more task management requests reach the connection's
// bound: the reader ends a message there and waits before it parses the next PDU.
func (f *flow) tmfsFull(n int64) bool { return f.tmfs.Load()+n >= cmdphase.MaxOutstandingTMFs }

// addTMFs changes tmfs by n, and wakes the reader when it went down.
func (f *flow) addTMFs(n int64) {
	f.tmfs.Add(n)
	if n < 0 {
		f.signal()
	}
}

// overWith reports whether n more bytes of reads would exceed maxDataInBytes or the
// connection's share of the ReadBudget: the reader ends a message there, and waits
// before it parses the next PDU.
func (f *flow) overWith(n int64) bool {
	own := f.queued.Load() + f.reads.Load() + n
	return own > maxDataInBytes || f.budget.over(own, n)
}

// readCharge is what the reader counts in reads for a command that reads with
// this EDTL: what the command phase's DataInHeld counts for it.
func (f *flow) readCharge(edtl uint32) int64 { return int64(cmdphase.ReadCharge(edtl, f.maxRead)) }

// addReads changes reads by n, and the budget with it.
func (f *flow) addReads(n int64) {
	f.reads.Add(n)
	if f.budget != nil {
		f.budget.add(n)
	}
}

// addQueued changes queued by n, and the budget with it.
func (f *flow) addQueued(n int64) {
	f.queued.Add(n)
	if f.budget != nil {
		f.budget.add(n)
	}
}

// done1 records that one of the flow's users is done with it; the last one gives
// the connection's share of the budget back.
func (f *flow) done1() {
	if f.users.Add(-1) == 0 && f.budget != nil {
		f.budget.release(f)
	}
}

// answered records a turn's change of the Data-In the connection owes: delta is
// the machine's change of DataInHeld minus the reads the reader counted that the
// turn took (a turn that takes READs and admits them changes nothing).
func (f *flow) answered(delta int64) {
	f.addReads(delta)
	if delta < 0 {
		f.signal()
	}
}

// wait returns once the connection has room for more input, or is closed. Called by
// the reader before it reads the socket.
func (f *flow) wait() {
	if !f.over() {
		return // the common case: three loads (and the budget's above minShare)
	}
	if f.budget != nil && f.budget.over(f.queued.Load()+f.reads.Load(), 0) {
		f.budget.pauses.Add(1)
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
	f.addQueued(-n)
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
