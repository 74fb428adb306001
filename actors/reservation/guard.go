package reservation

import "github.com/atgt/atgt/messages/scsi"

// A panic of the LUN actor while it runs a reservation command may leave the
// table half changed. The table is pure data and the LUN keeps it across
// the actor's in-place recovery, so that a fault anywhere else (the device
// model, the merge code, MODE SELECT) does not drop registrations and
// reservations a cluster manager relies on: losing a non-APTPL reservation
// would unfence a fenced node. For the one case where the fault is inside
// this package, Execute keeps a copy of the state from before each command
// that may change it; Recovered hands that copy back. The command that
// failed is answered CHECK CONDITION, HARDWARE ERROR, so going on from the
// state before it is what the initiator was told. Reloading the APTPL file
// instead would forget every registration made with APTPL=0 (fence_scsi's
// default), which is the one outcome a fencing cluster cannot accept; a
// state that fails again and again takes the LUN offline (NOT READY for
// every command), which refuses the fenced node too.

// changes reports whether op may change the table (everything but
// PERSISTENT RESERVE IN, which only reads it).
func changes(op byte) bool { return op != scsi.OpPersistentReserveIn }

// clone returns a deep copy of t's state.
func (t *Table) clone() *Table {
	c := *t
	c.guard, c.unsaved = nil, nil
	c.regs = make([]*registration, len(t.regs))
	for i, r := range t.regs {
		rc := *r
		c.regs[i] = &rc
	}
	if t.res != nil {
		rc := *t.res
		c.res = &rc
	}
	if t.cl != nil {
		cl := *t.cl
		c.cl = &cl
	}
	return &c
}

// Recovered returns the table to go on with after a panic in the LUN actor:
// t itself if no command was running inside it, or else the state from
// before the command the panic interrupted, with its snapshot numbers kept
// above any t handed out (so that no older APTPL snapshot still being
// written can be mistaken for a newer one). It reports whether it went back.
func (t *Table) Recovered() (*Table, bool) {
	if t == nil || t.guard == nil {
		return t, false
	}
	g := t.guard
	t.guard = nil
	g.seq = max(g.seq, t.seq)
	return g, true
}

// faultAfterChange, set only by tests, runs after a command changed the table
// and before Execute returns: a panic there is a fault inside this package.
var faultAfterChange func(op byte)
