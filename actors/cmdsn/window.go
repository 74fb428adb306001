// Package cmdsn implements the command numbering window of an iSCSI session
// (RFC 7143 section 4.2.2.1) as plain logic: the session actor owns a Window, and
// its connection learns ExpCmdSN from the session's messages (CommandReady and the
// tasks it releases), never from the Window itself.
package cmdsn

import (
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/iscsi"
)

// PlaceholderITT is the ITT of an order that only takes a CmdSN: the reserved tag,
// which no ordered request carries (RFC 7143 11.2.1.8). The session orders it like
// any other and hands it back, so ExpCmdSN passes a CmdSN whose request the
// connection rejected or a task management function aborted.
const PlaceholderITT = iscsi.ReservedTag

// Less reports a < b in 32-bit serial number arithmetic (RFC 1982).
func Less(a, b uint32) bool { return a != b && int32(a-b) < 0 }

// Window orders non-immediate commands by CmdSN and tracks ExpCmdSN.
type Window struct {
	exp     uint32
	depth   uint32
	pending map[uint32]*pb.CommandOrder
	ready   []*pb.CommandOrder // Accept's result, reused
}

// NewWindow returns a window whose next expected CmdSN is first, accepting commands up
// to depth ahead of it.
func NewWindow(first, depth uint32) *Window {
	w := &Window{depth: depth, pending: map[uint32]*pb.CommandOrder{}}
	w.exp = first
	return w
}

// Exp returns ExpCmdSN.
func (w *Window) Exp() uint32 { return w.exp }

// Depth is the queue depth the window was built with.
func (w *Window) Depth() uint32 { return w.depth }

// Accept places o in order and returns the orders that are now deliverable, in CmdSN
// order: o itself at once if it is immediate. ok is false when o falls outside the
// window (below ExpCmdSN, beyond the depth, or beyond the MaxCmdSN the connection
// advertised, o.MaxCmdSn) or repeats a CmdSN already received; RFC 7143 has the
// target silently drop such a command. The returned slice is reused by the next
// Accept.
func (w *Window) Accept(o *pb.CommandOrder) (ready []*pb.CommandOrder, ok bool) {
	if o.Immediate {
		w.ready = append(w.ready[:0], o)
		return w.ready, true
	}
	exp := w.exp
	if Less(o.CmdSn, exp) || !Less(o.CmdSn, exp+w.depth) || Less(o.MaxCmdSn, o.CmdSn) {
		return nil, false
	}
	if _, dup := w.pending[o.CmdSn]; dup {
		return nil, false
	}
	if o.CmdSn != exp {
		w.pending[o.CmdSn] = o
		return nil, true
	}
	ready = append(w.ready[:0], o)
	exp++
	for {
		next, found := w.pending[exp]
		if !found {
			break
		}
		delete(w.pending, exp)
		ready = append(ready, next)
		exp++
	}
	w.exp = exp
	w.ready = ready
	return ready, true
}

// Withdraw is a connection's request that the session forget a task it holds
// behind a CmdSN gap: a task management function aborted it, and it must never
// run. The session answers with the task's CommandReady marked dropped if it still
// held it; if not, the task is at its LUN already and its completion comes back.
type Withdraw struct {
	CmdSn uint32
	Task  *pb.ScsiTask
}

// Withdraw replaces the held order of task at CmdSN sn with a placeholder that only
// advances ExpCmdSN when the gap fills, and returns the order taken out; ok is false
// when the window does not hold that task (released already, or never accepted).
func (w *Window) Withdraw(sn uint32, task *pb.ScsiTask) (o *pb.CommandOrder, ok bool) {
	o, ok = w.pending[sn]
	if !ok || o.Task != task || task == nil {
		return nil, false
	}
	w.pending[sn] = &pb.CommandOrder{CmdSn: sn, Itt: PlaceholderITT}
	return o, true
}

// Waits reports whether the window holds a request at CmdSN sn behind a gap: one
// to run, not a placeholder (a CmdSN taken without a request, or a withdrawn task).
func (w *Window) Waits(sn uint32) bool {
	o, ok := w.pending[sn]
	return ok && (o.Task != nil || o.Itt != PlaceholderITT)
}

// Pending is how many accepted commands wait for an earlier CmdSN.
func (w *Window) Pending() int { return len(w.pending) }

// Start sets ExpCmdSN to the CmdSN of the Login Request that opened the session. The
// session calls it when its connection reports the login complete, before any command
// can be ordered.
func (w *Window) Start(first uint32) { w.exp = first }
