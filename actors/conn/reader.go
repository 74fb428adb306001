package conn

import (
	"errors"
	"fmt"
	"net"
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/atgt/atgt/actors/bufpool"
	"github.com/atgt/atgt/actors/slab"
	"github.com/atgt/atgt/actors/trace"
	"github.com/atgt/atgt/messages/iscsi"
)

// pduIn carries one PDU from the reader goroutine to the connection actor. pooled
// says its data segment is a bufpool buffer the actor now owns (write data of the
// full feature phase): it becomes a task's buffer or goes back with bufpool.Put.
type pduIn struct {
	p      *iscsi.PDU
	pooled bool
	// reads is the EDTL of the commands that read in this message (flow.reads).
	reads int64
	// tmfs is the number of task management requests in it (flow.tmfs).
	tmfs int64
	// at is when the reader parsed it (trace clock), while tracing is on.
	at  int64
	pdu iscsi.PDU // p points here: one allocation per PDU
}

// pduBatch carries the PDUs one socket read brought, in order: one message to the
// connection's mailbox rather than one per PDU. items uses arr, so a batch is one
// allocation (carved from the reader's slab).
type pduBatch struct {
	items []*pduIn
	// reads is the EDTL of the commands that read in the batch (flow.reads).
	reads int64
	// tmfs is the number of task management requests in it (flow.tmfs).
	tmfs int64
	arr  [maxBatchPDUs]*pduIn
}

// maxBatchPDUs bounds a pduBatch.
const maxBatchPDUs = 64

// readFailed tells the actor that the socket is finished (EOF, reset, a header digest
// error or an oversized segment that cannot be skipped).
type readFailed struct{ err error }

// writeFailed tells the actor that the writer could not send.
type writeFailed struct{ err error }

// panicError is the failure of a reader or writer goroutine that panicked: reported
// to the actor like a socket error, so that only this connection ends.
type panicError struct {
	where string // "reader" or "writer"
	value any
	stack string
}

func (e *panicError) Error() string { return fmt.Sprintf("%s panicked: %v", e.where, e.value) }

// recovered turns a recovered panic value into a panicError (nil for none).
func recovered(where string, r any) error {
	if r == nil {
		return nil
	}
	return &panicError{where: where, value: r, stack: string(debug.Stack())}
}

// dataDigestFailed reports a PDU whose data digest was wrong; the stream is intact.
type dataDigestFailed struct{ p *iscsi.PDU }

// readerStep is what the actor tells the reader after each login-phase PDU: the
// limits for the next PDU, and whether the login is over (then the reader stops
// waiting between PDUs).
type readerStep struct {
	lim  iscsi.Limits
	ffp  bool
	stop bool
}

// readLoop is the connection's PDU reader activity: it reads the socket in large
// chunks and parses every PDU that arrived. During login it waits after each PDU for
// the actor's next limits, because digests and segment limits change with the final
// Login Response. A panic in it (a bug in a codec) is reported as a read failure, so
// that it ends this connection and not the process.
//
// Before login a connection costs little: the reader waits for the first byte
// without a buffer, reads the login through a small one (loginBuffer; a login data
// segment larger than it is read straight into its own slice) and grows it to
// bufSize for the full feature phase. There, before each read of the socket,
// it waits while fl says the actor or the writer is behind.
func readLoop(nc net.Conn, root *actor.RootContext, self *actor.PID, steps <-chan readerStep, fl *flow, bufSize int,
	tr *atomic.Pointer[trace.Conn], spinWait time.Duration, inFlight *atomic.Int64) {
	defer close(fl.readerDone)
	defer fl.done1()
	defer func() {
		if err := recovered("reader", recover()); err != nil {
			root.Send(self, &readFailed{err: err})
		}
	}()
	if err := waitReadable(nc); err != nil {
		root.Send(self, &readFailed{err: err})
		return
	}
	r := iscsi.NewSmallReader(nc, loginBuffer)
	lim := iscsi.LoginLimits
	ffp := false
	r.SetDataAllocator(func(h *iscsi.BHS, n int) []byte {
		if ffp && pooledData(h.Opcode()) {
			return bufpool.Get(n)
		}
		return make([]byte, n)
	})
	var dd *iscsi.DataDigestError
	// The reader's records come from slabs: one allocation per many PDUs.
	var pdus slab.Slab[pduIn]
	batches := slab.Slab[pduBatch]{Chunk: 8}
	var one *pduIn
	var batch *pduBatch
	spin := newSpinner(nc, spinWait, inFlight)
	var waitStart time.Time
	// reads is the EDTL of the commands that read in the message being built;
	// full: it ended because flow would be over with them; tmfs the task
	// management requests in it.
	var reads, tmfs int64
	full := false
	// send hands the actor one message, counted until the actor takes it.
	send := func(m any) {
		fl.unread.Add(1)
		root.Send(self, m)
	}
	// flush sends the PDUs read so far: alone, or as one batch.
	flush := func() {
		if reads != 0 {
			fl.addReads(reads) // before the actor can take them off
		}
		if tmfs != 0 {
			fl.addTMFs(tmfs)
		}
		switch {
		case batch != nil:
			batch.reads, batch.tmfs = reads, tmfs
			send(batch)
		case one != nil:
			one.reads, one.tmfs = reads, tmfs
			send(one)
		}
		one, batch, reads, tmfs = nil, nil, 0, 0
	}
	for {
		if full {
			// The Data-In owed is at its bound: parse nothing more until it drains.
			full = false
			fl.wait()
		}
		if ffp && !r.Ready(lim) {
			if r.Buffered() < iscsi.BHSLength {
				// About to read the socket: let the goroutines this reader just fed
				// run first, so that more of the initiator's PDUs are there for one
				// read.
				runtime.Gosched()
			}
			// Read no more while the actor or the writer is behind.
			fl.wait()
			if r.Buffered() == 0 {
				waitStart = time.Now()
				spin.wait()
			}
		}
		var m *pduIn
		if ffp {
			m = pdus.New()
		} else {
			m = new(pduIn) // a slab chunk is 32 of them: not for a login
		}
		p := &m.pdu
		m.p = p
		err := r.Read(lim, p)
		if !waitStart.IsZero() {
			spin.arrived(time.Since(waitStart))
			waitStart = time.Time{}
		}
		switch {
		case errors.As(err, &dd):
			flush()
			send(&dataDigestFailed{p: p})
			continue
		case err != nil:
			flush()
			root.Send(self, &readFailed{err: err})
			return
		}
		m.pooled = ffp && len(p.Data) > 0 && pooledData(p.BHS.Opcode())
		if ffp && p.BHS.Opcode() == iscsi.OpSCSICmd && p.BHS.CmdRead() {
			reads += fl.readCharge(p.BHS.ExpectedDataTransferLength())
			full = fl.overWith(reads)
		} else if ffp && p.BHS.Opcode() == iscsi.OpTaskMgmtReq {
			tmfs++
			full = fl.tmfsFull(tmfs)
		}
		if ffp && tr.Load().Level() != trace.Off {
			m.at = trace.Now()
		}
		switch {
		case one == nil:
			one = m
		case batch == nil:
			batch = batches.New()
			batch.items = append(batch.arr[:0], one, m)
		default:
			batch.items = append(batch.items, m)
		}
		if ffp && !full && (batch == nil || len(batch.items) < maxBatchPDUs) && r.Ready(lim) {
			continue // more whole PDUs are buffered: they go in the same message
		}
		flush()
		if !ffp {
			s, ok := <-steps
			if !ok || s.stop {
				return
			}
			lim, ffp = s.lim, s.ffp
			if ffp {
				r.Grow(bufSize)
			}
		}
	}
}

// loginBuffer is the reader's buffer until the full feature phase: a header and
// short keys fit; a longer data segment (at most 8 KiB during login) is read
// straight into its own slice.
const loginBuffer = 256

// waitReadable returns once nc has something to read, has ended or has failed,
// without holding a buffer meanwhile. A socket it cannot poll counts as readable.
func waitReadable(nc net.Conn) error {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	var b [1]byte
	// Go's poller retries the function each time the socket becomes readable; a
	// peek that would block sends it back to wait.
	return rc.Read(func(fd uintptr) bool {
		_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return err != syscall.EAGAIN
	})
}

// pooledData reports the PDUs whose data segment is write data, read into a pooled
// buffer: SCSI Command (immediate data) and Data-Out.
func pooledData(op iscsi.Opcode) bool { return op == iscsi.OpSCSICmd || op == iscsi.OpDataOut }
