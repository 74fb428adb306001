package conn

import (
	"net"

	"github.com/atgt/atgt/actors/bufpool"
	"github.com/atgt/atgt/messages/iscsi"
)

// outBatch is a group of PDUs the connection actor hands to its writer, with the
// digest settings in force when they were built (they change at the end of login).
type outBatch struct {
	pdus     []*iscsi.PDU
	hd, dd   bool
	closeNow bool // close the socket once this batch is on the wire
	// release are bufpool buffers the PDUs point into, returned once they are sent.
	release [][]byte
}

// appendTo adds the batch's PDUs to bufs.
func (b *outBatch) appendTo(bufs net.Buffers) net.Buffers {
	for _, p := range b.pdus {
		bufs = iscsi.AppendPDU(bufs, p, b.hd, b.dd)
	}
	return bufs
}

// writer is the connection's PDU writer activity (the paper's third activity): one
// goroutine that drains every batch queued so far and sends them with one writev.
type writer struct {
	nc net.Conn
	ch chan outBatch
}

// maxBuffersPerWrite bounds one writev; the kernel's IOV_MAX is 1024.
const maxBuffersPerWrite = 1000

func newWriter(nc net.Conn, depth int) *writer {
	return &writer{nc: nc, ch: make(chan outBatch, depth)}
}

// run sends batches until the channel closes, a batch asks to close, or a write fails;
// it reports the failure through onErr and then drains the channel so that the actor
// never blocks on a dead writer. It closes the socket when it ends, after everything
// queued before the close was sent. A panic (a bug in an encoder) is reported the same
// way, so that it ends this connection and not the process.
func (w *writer) run(onErr func(error)) {
	defer w.nc.Close()
	defer func() {
		if err := recovered("writer", recover()); err != nil {
			w.nc.Close()
			onErr(err)
			w.discard()
		}
	}()
	var bufs net.Buffers
	var release [][]byte
	for b := range w.ch {
		bufs = b.appendTo(bufs[:0])
		release = append(release[:0], b.release...)
		closeNow := b.closeNow
	drain:
		for !closeNow && len(bufs) < maxBuffersPerWrite {
			select {
			case more, ok := <-w.ch:
				if !ok {
					break drain
				}
				bufs = more.appendTo(bufs)
				release = append(release, more.release...)
				closeNow = more.closeNow
			default:
				break drain
			}
		}
		out := bufs
		if _, err := out.WriteTo(w.nc); err != nil {
			onErr(err)
			w.discard()
			return
		}
		for i, r := range release {
			bufpool.Put(r)
			release[i] = nil
		}
		if closeNow {
			w.nc.Close()
			w.discard()
			return
		}
	}
}

func (w *writer) discard() {
	for range w.ch {
	}
}
