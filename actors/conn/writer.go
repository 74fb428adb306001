package conn

import (
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/atgt/atgt/actors/bufpool"
	"github.com/atgt/atgt/actors/trace"
	"github.com/atgt/atgt/messages/iscsi"
)

// outBatch is a group of PDUs the connection actor hands to its writer, with the
// digest settings in force when they were built (they change at the end of login).
type outBatch struct {
	pdus     []*iscsi.PDU
	hd, dd   bool
	closeNow bool // close the socket once this batch is on the wire
	// halfClose: with closeNow, send FIN and close only once the peer closed too
	// (or after logoutLinger), as RFC 7143 11.14 asks after a Logout Response.
	halfClose bool
	// release are bufpool buffers the PDUs point into, returned once they are sent.
	release [][]byte
	// size is the batch's bytes (headers and data), counted in flow.queued until
	// they are written.
	size int64
	// traced are the traced tasks this batch answers, finished in tc once written.
	traced []*trace.Record
	tc     *trace.Conn
}

// appendTo adds the batch's PDUs to bufs.
func (b *outBatch) appendTo(bufs net.Buffers) net.Buffers {
	for _, p := range b.pdus {
		bufs = iscsi.AppendPDU(bufs, p, b.hd, b.dd)
		// The writer owns a PDU handed to it, and bufs now holds its data: a PDU
		// that lives on in a task's slab chunk must not keep a pooled Data-In
		// buffer reachable once it is written and back in the pool.
		p.Data = nil
	}
	return bufs
}

// batchSize is the bytes of pdus that flow.queued counts (digests and padding aside).
func batchSize(pdus []*iscsi.PDU) int64 {
	n := 0
	for _, p := range pdus {
		n += iscsi.BHSLength + len(p.AHS) + len(p.Data)
	}
	return int64(n)
}

// writer is the connection's PDU writer activity (the paper's third activity): one
// goroutine that takes every batch queued so far and sends them with one writev.
// The actor queues batches without ever blocking; the queue is bounded by the
// reader, which stops reading while flow says too much is queued. The goroutine
// starts with the first batch, so that a connection that never sends a whole Login
// Request costs no writer goroutine.
type writer struct {
	nc net.Conn
	// timeout is how long a write may go without progress before the connection
	// is closed (0: no limit).
	timeout time.Duration
	flow    *flow
	onErr   func(error)
	// stopBy is a stopping connection's last moment to write (unix nanoseconds, 0:
	// none): its deadline replaces the progress deadline.
	stopBy atomic.Int64

	mu     sync.Mutex
	q      []outBatch
	ending bool // the actor queues no more batches
	dead   bool // the goroutine has ended: batches are dropped
	wake   chan struct{}

	started bool // the goroutine runs (actor-owned)

	// The goroutine's own.
	deadline time.Time // the write deadline set on the socket
	// drain measures how fast the peer takes what is queued (drain.go).
	drain drainWindow
}

// errClosedAfter tells the actor that the writer closed the socket after a batch
// that asked for it (a rejected login, a logout), so that the actor ends at once
// rather than at its login timeout.
var errClosedAfter = errors.New("closed after the final response")

// maxBuffersPerWrite bounds one writev; the kernel's IOV_MAX is 1024.
const maxBuffersPerWrite = 1000

// newWriter returns a writer over nc; the goroutine starts with the first batch.
// onErr hears of a write that failed (or timed out, or panicked).
func newWriter(nc net.Conn, timeout time.Duration, fl *flow, onErr func(error)) *writer {
	return &writer{nc: nc, timeout: timeout, flow: fl, onErr: onErr, wake: make(chan struct{}, 1)}
}

// send queues b; it never blocks. Called by the actor only.
func (w *writer) send(b outBatch) {
	if !w.started {
		w.started = true
		go w.run()
	}
	b.size = batchSize(b.pdus)
	w.mu.Lock()
	if w.dead {
		w.mu.Unlock()
		b.drop()
		return
	}
	w.flow.addQueued(b.size)
	w.q = append(w.q, b)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// end tells the writer that nothing more comes: it sends what is queued, by
// stopBy, and closes the socket. A writer that never started closes it at once.
// Called by the actor only, once.
func (w *writer) end(stopBy time.Time) {
	w.stopBy.Store(stopBy.UnixNano())
	w.nc.SetWriteDeadline(stopBy) // reaches a write in progress
	if !w.started {
		w.nc.Close()
		w.flow.closed()
		w.flow.done1() // as the goroutine's finish would
		return
	}
	w.mu.Lock()
	w.ending = true
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// run sends batches until the actor ends the queue, a batch asks to close, or a
// write fails; a failure goes to onErr. It closes the socket when it ends, after
// everything queued before the end was sent. A panic (a bug in an encoder) is
// reported the same way, so that it ends this connection and not the process.
func (w *writer) run() {
	defer w.finish()
	defer func() {
		if err := recovered("writer", recover()); err != nil {
			w.nc.Close()
			w.onErr(err)
		}
	}()
	var batches, spare []outBatch
	var bufs net.Buffers
	var release [][]byte
	var traced []tracedBatch
	for {
		w.mu.Lock()
		for len(w.q) == 0 && !w.ending {
			w.drain.reset()
			w.mu.Unlock()
			<-w.wake
			w.mu.Lock()
		}
		batches, w.q = w.q, spare[:0]
		ending := w.ending
		w.mu.Unlock()
		if len(batches) == 0 && ending {
			return
		}
		for i := 0; i < len(batches); {
			bufs, release = bufs[:0], release[:0]
			var size int64
			closeNow, halfClose := false, false
			traced = traced[:0]
			for i < len(batches) && !closeNow && len(bufs) < maxBuffersPerWrite {
				b := &batches[i]
				if len(b.traced) > 0 {
					traced = append(traced, tracedBatch{b.tc, b.traced})
				}
				bufs = b.appendTo(bufs)
				release = append(release, b.release...)
				size += b.size
				closeNow, halfClose = b.closeNow, b.halfClose
				batches[i] = outBatch{}
				i++
			}
			out := bufs // WriteTo consumes its slice; bufs keeps the array
			err := w.write(&out)
			for j, t := range traced {
				traceWritten(t.tc, t.recs, err)
				traced[j] = tracedBatch{}
			}
			if err != nil {
				w.onErr(err)
				return
			}
			for j, r := range release {
				bufpool.Put(r)
				release[j] = nil
			}
			w.flow.sent(size)
			if closeNow {
				cw, ok := w.nc.(interface{ CloseWrite() error })
				if !halfClose || !ok || cw.CloseWrite() != nil {
					w.nc.Close()
					w.onErr(errClosedAfter)
					return
				}
				w.onErr(errClosedAfter)
				w.linger()
				return
			}
		}
		spare = batches[:0]
	}
}

// logoutLinger bounds how long a half-closed socket waits for the peer's FIN.
const logoutLinger = 2 * time.Second

// linger waits, after the FIN went out, until the reader has seen the peer close
// (it reads what the peer still sent, such as Data-Out it sent before the Logout
// Response arrived) or logoutLinger passed; finish then closes the socket. Closing
// with unread data would answer the peer with a reset rather than a clean close.
func (w *writer) linger() {
	w.flow.closed() // the reader reads on, whatever it fed the actor
	w.nc.SetReadDeadline(time.Now().Add(logoutLinger))
	t := time.NewTimer(logoutLinger)
	defer t.Stop()
	select {
	case <-w.flow.readerDone:
	case <-t.C:
	}
}

// finish closes the socket, drops what is still queued and wakes a reader waiting
// for the queue to drain (it then finds the socket closed).
func (w *writer) finish() {
	w.nc.Close()
	w.mu.Lock()
	w.dead = true
	q := w.q
	w.q = nil
	w.mu.Unlock()
	for i := range q {
		q[i].drop()
	}
	w.flow.closed()
	w.flow.done1()
}

// drop gives up a batch that is never to be sent: its buffers go back to the pool,
// and its PDUs (which may live on in a task's slab chunk) let go of them.
func (b *outBatch) drop() {
	for _, r := range b.release {
		bufpool.Put(r)
	}
	for _, p := range b.pdus {
		p.Data = nil
	}
	traceWritten(b.tc, b.traced, errClosedAfter)
}

// write sends bufs. Without progress for w.timeout (the peer stopped reading) it
// fails with a *stalledPeerError (drain.go), which wraps os.ErrDeadlineExceeded; with progress slower than minDrainRate over a
// whole timeout while the queue never emptied, with a *slowPeerError (drain.go). The socket's write deadline serves as a
// progress check every quarter of the timeout, and is moved only when it is less
// than an eighth of the timeout ahead, not for each write: so the connection is
// closed between timeout and 1.25 times timeout after its last progress, and a
// busy connection moves its deadline a few times per timeout. A stopping
// connection's stopBy bounds the whole.
func (w *writer) write(bufs *net.Buffers) error {
	if w.timeout <= 0 && w.stopBy.Load() == 0 {
		_, err := bufs.WriteTo(w.nc)
		return err
	}
	now := time.Now()
	progress := now // the queue was empty or the last write just ended
	w.drain.begin(now)
	for {
		w.arm(now)
		n, err := bufs.WriteTo(w.nc)
		w.drain.bytes += n
		if err == nil || !errors.Is(err, os.ErrDeadlineExceeded) || len(*bufs) == 0 {
			return err
		}
		now = time.Now()
		if n > 0 {
			progress = now
		}
		if stop := w.stopBy.Load(); stop != 0 && now.UnixNano() >= stop {
			return err
		}
		if w.timeout > 0 && now.Sub(progress) >= w.timeout {
			return &stalledPeerError{idle: now.Sub(progress), err: err}
		}
		if err := w.drain.check(now, w.timeout, w.flow); err != nil {
			return err
		}
	}
}

// arm keeps the socket's write deadline between an eighth and a quarter of the
// timeout ahead of now (or at stopBy, once the connection is stopping).
func (w *writer) arm(now time.Time) {
	if stop := w.stopBy.Load(); stop != 0 {
		if d := time.Unix(0, stop); !d.Equal(w.deadline) {
			w.deadline = d
			w.nc.SetWriteDeadline(d)
		}
		return
	}
	if w.timeout <= 0 || w.deadline.Sub(now) >= w.timeout/8 {
		return
	}
	w.deadline = now.Add(w.timeout / 4)
	w.nc.SetWriteDeadline(w.deadline)
}

// tracedBatch is a written batch's traced tasks, to finish after the writev.
type tracedBatch struct {
	tc   *trace.Conn
	recs []*trace.Record
}
