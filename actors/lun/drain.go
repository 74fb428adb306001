package lun

import "sync/atomic"

// drainCounter counts work the LUN actor handed to its IO workers, shared with the
// workers, which uncount it as they finish. The LUN can ask whether the count is zero
// and, if it is not, be sent a message when it reaches zero: the LUN never waits.
type drainCounter struct {
	n       atomic.Int64
	waiting atomic.Bool // the LUN wants a message when n reaches 0
}

// add counts one more piece of work.
func (d *drainCounter) add() { d.n.Add(1) }

// done uncounts one; the last one out sends msg to a waiting LUN.
func (d *drainCounter) done(send func(msg any), msg any) {
	if d.n.Add(-1) == 0 && d.waiting.CompareAndSwap(true, false) {
		send(msg)
	}
}

// idle reports whether nothing is counted; if something is, the LUN gets the message
// once nothing is. Setting waiting before reading n closes the race with a worker
// finishing at the same moment.
func (d *drainCounter) idle() bool {
	d.waiting.Store(true)
	return d.n.Load() == 0 && d.waiting.CompareAndSwap(true, false)
}
