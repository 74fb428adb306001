package conn

import (
	"errors"
	"fmt"
	"time"
)

// minDrainRate is the slowest a peer may take its responses (bytes a second,
// averaged over the write timeout) while it keeps the writer blocked and holds
// Data-In: 64 KiB/s. A peer that reads a little now and then resets the write
// timeout's progress check each time, and so would keep its up to 64 MiB of
// Data-In for ever; at this rate 64 MiB takes 17 minutes, far past any
// initiator's command timeout (Linux: 30 s), so no working initiator is this slow.
const minDrainRate = 64 << 10

// slowPeerError ends a connection whose peer drained less than minDrainRate over a
// whole write timeout while the writer was blocked on it.
type slowPeerError struct {
	took    int64         // bytes the peer took in the window
	window  time.Duration // the window
	holding int64         // the Data-In the connection owed or held then
}

func (e *slowPeerError) Error() string {
	return fmt.Sprintf("peer took %d bytes in %v (below %d KiB/s) while %d bytes of Data-In waited for it",
		e.took, e.window.Round(time.Millisecond), minDrainRate>>10, e.holding)
}

// stalledPeerError ends a connection whose peer took nothing for a whole write
// timeout while the writer had something for it (the write deadline's error).
type stalledPeerError struct {
	idle time.Duration
	err  error
}

func (e *stalledPeerError) Error() string {
	return fmt.Sprintf("peer took nothing for %v: %v", e.idle.Round(time.Millisecond), e.err)
}

func (e *stalledPeerError) Unwrap() error { return e.err }

// drainWindow is the writer goroutine's measure of how fast its peer takes what is
// queued: the window starts with the first write after the queue was empty (resetWindow)
// and is judged at each expiry of the write deadline (the writer is blocked) once it
// is a whole timeout long. Its cost on the normal path is one add per writev.
type drainWindow struct {
	start time.Time
	bytes int64
}

// reset starts a new window with the next write: the writer caught up.
func (d *drainWindow) reset() { d.start, d.bytes = time.Time{}, 0 }

// begin starts the window at now unless one runs.
func (d *drainWindow) begin(now time.Time) {
	if d.start.IsZero() {
		d.start = now
	}
}

// check judges the window at now, when a write is blocked: an error if the peer
// took less than minDrainRate over a window of at least timeout while the
// connection holds more than it would drain at that rate in a timeout; otherwise
// a window that is long enough starts again.
func (d *drainWindow) check(now time.Time, timeout time.Duration, fl *flow) error {
	el := now.Sub(d.start)
	if timeout <= 0 || el < timeout {
		return nil
	}
	took := d.bytes
	d.start, d.bytes = now, 0
	if float64(took) >= minDrainRate*el.Seconds() {
		return nil
	}
	holding := fl.queued.Load() + fl.reads.Load()
	if float64(holding) < minDrainRate*timeout.Seconds() {
		return nil // little is held: the write timeout alone bounds it
	}
	return &slowPeerError{took: took, window: el, holding: holding}
}

// slowPeer logs and counts a connection ended by the write timeout or the minimum
// drain rate (err is the writer's failure); any other failure is left to ioFailed.
// Which of the two ends a trickling peer first depends on when TCP lets the writer
// progress, so both are told to the administrator alike.
func (c *connActor) slowPeer(err error) {
	var sp *slowPeerError
	var st *stalledPeerError
	var msg string
	switch {
	case errors.As(err, &sp):
		msg = "initiator takes its Data-In too slowly; ending the connection"
	case errors.As(err, &st):
		msg = "initiator stopped taking its responses (write timeout); ending the connection"
	default:
		return
	}
	if b := c.cfg.ReadBudget; b != nil {
		b.slow.Add(1)
	}
	c.log.Warn(msg, "initiator", c.initiator, "remote", c.cfg.Conn.RemoteAddr().String(), "reason", err.Error())
}
