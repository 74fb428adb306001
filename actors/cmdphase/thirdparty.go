package cmdphase

import (
	"slices"

	"github.com/atgt/atgt/actors/cmdsn"
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/scsi"
)

// AbortedByOther takes the news that another I_T nexus's task management function
// (CLEAR TASK SET, LOGICAL UNIT RESET, a target reset) aborted the task sets of
// some logical units. With TST=000 a logical unit has one task set for every I_T
// nexus, and with TAS=1 each command of this nexus it aborts ends with TASK ABORTED
// status (SAM-5, TASK ABORTED status), answered once:
//
//   - a task waiting for its Data-Out, or its turn to get it, is answered at once:
//     it never reached its LUN, so nothing else will answer it. Its R2Ts and buffers
//     go; Data-Out that comes later for it is rejected like any for a task no longer
//     held (as after this connection's own ABORT TASK);
//   - a task at its LUN is marked, and answered TASK ABORTED when its completion
//     comes back, whatever that says: the LUN ends it early (it finishes waiting IO
//     and detaches a hung call after its grace), and only then may the initiator
//     reuse the ITT without a late completion being taken for the new task's;
//   - a task this connection's own function already aborted gets no response (RFC
//     7143), nor does a SANITIZE, which goes on through aborts (SBC-4 4.11.3).
//
// Commands at or beyond the ExpCmdSN the session stamped on a are not touched: the
// session has not delivered them in CmdSN order, so they are not in the task set
// yet, and they reach their LUN after the function.
func (m *Machine) AbortedByOther(a *pb.TaskSetAborted) {
	if m.Discovery() || a.Target != m.route {
		return
	}
	m.learn(a.ExpCmdSn)
	for _, tk := range m.tasks {
		if tk.aborted || tk.abortedByOther || (!a.AllLuns && !slices.Contains(a.Luns, tk.t.Lun)) {
			continue
		}
		if len(tk.t.Cdb) > 0 && tk.t.Cdb[0] == scsi.OpSanitize {
			continue
		}
		switch {
		case m.dispatched(tk):
			tk.abortedByOther = true
		case tk.ordered, tk.t.Immediate, cmdsn.Less(tk.t.CmdSn, a.ExpCmdSn):
			// Handed back for its Data-Out (or about to be): not at a LUN.
			m.finishTask(tk, uint32(scsi.StatusTaskAborted), nil, nil, 0, nil)
		}
	}
}
