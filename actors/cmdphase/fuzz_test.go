package cmdphase

import (
	"fmt"
	"sort"
	"testing"
	"time"

	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/iscsi"
	"github.com/atgt/atgt/messages/scsi"
)

// FuzzMachine feeds the command phase random sequences of PDUs, completions, task
// management answers, session holds and ticks, and checks its invariants:
//   - it never panics;
//   - every command the session accepted is answered exactly once, or dropped by
//     the session, or aborted by a task management function that was answered, or
//     still waits for write data the initiator never sent;
//   - every pooled buffer goes back to the pool exactly once;
//   - a task a function aborted never reaches its LUN after the function's
//     response (SAM-5: it is gone).
func FuzzMachine(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 2, 0})
	f.Add([]byte{0, 0x12, 0x40, 1, 0, 0, 1, 0x10, 0, 2, 0, 0x81, 2, 0})
	f.Add([]byte{7, 0, 0x22, 0x10, 0x04, 0, 0, 0x13, 0, 1, 3, 0x01, 0, 0, 7, 1, 2, 0})
	f.Add([]byte{0, 0x13, 0x7f, 0x20, 0, 3, 0x05, 0x00, 0x00, 4, 2, 2, 6, 0x10, 6, 0x40})
	f.Add([]byte{5, 0, 5, 1, 5, 2, 5, 3, 5, 4, 5, 5, 6, 0x30, 6, 0x30, 6, 0x30})
	f.Add([]byte{0, 0x22, 0x30, 2, 1, 0x22, 1, 0, 0x80, 1, 0x22, 2, 1, 0x80, 2, 0, 3, 0x05, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		r := &fuzzRun{in: in}
		r.run(t)
	})
}

type fuzzRun struct {
	in  []byte
	pos int
	h   *harness
	seq int
	// outstanding is the accepted task for each ITT not yet answered.
	outstanding map[uint32]*fuzzTask
	tasks       []*fuzzTask
	tmfs        []fuzzTMF // answered task management functions
	tmfReqs     map[uint32]fuzzTMF
	closedSeen  bool
}

type fuzzTask struct {
	t             *pb.ScsiTask
	seq           int
	lun           uint64
	answered      bool
	endedWithConn bool
	atLUN         bool // reached its LUN
	gone          bool // an answered function aborted it before it reached its LUN
}

type fuzzTMF struct {
	seq    int
	reqSeq int // when the request arrived
	fn     uint8
	ref    uint32
	lun    uint64
}

func (r *fuzzRun) byte() byte {
	if r.pos >= len(r.in) {
		return 0
	}
	b := r.in[r.pos]
	r.pos++
	return b
}

func (r *fuzzRun) run(t *testing.T) {
	cfg := defaultConfig()
	cfg.QueueDepth = 4
	cfg.Login.Params.MaxOutstandingR2T = 2
	cfg.Login.Params.FirstBurstLength = 8192
	cfg.Login.Params.MaxBurstLength = 8192
	cfg.Login.Params.MaxRecvDataSegmentLength = 4096
	cfg.MaxBufferedBytes = 40960
	r.h = newHarness(cfg, 1)
	r.outstanding = map[uint32]*fuzzTask{}
	r.tmfReqs = map[uint32]fuzzTMF{}
	r.observe(t)
	var cmdSN uint32 = 1
	for r.pos < len(r.in) && !r.h.closed {
		r.seq++
		switch r.byte() % 8 {
		case 0: // SCSI Command
			a, b, c := r.byte(), r.byte(), r.byte()
			p := &iscsi.PDU{}
			h := &p.BHS
			h.SetOpcode(iscsi.OpSCSICmd)
			h.SetImmediate(a&0x80 != 0)
			h.SetITT(uint32(a & 7))
			h.SetFinal(a&0x08 == 0)
			read, write := a&0x10 != 0, a&0x20 != 0
			h.SetCmdRead(read)
			h.SetCmdWrite(write)
			h.SetTaskAttr(b & 3)
			edtl := uint32(b>>2&15) * 2048
			h.SetExpectedDataTransferLength(edtl)
			h.SetLUN(scsi.EncodeLUN(uint64(c & 1)))
			h.SetCmdSN(cmdSN + uint32(c>>5) - 1)
			if !h.Immediate() {
				cmdSN++
			}
			op := byte(scsi.OpWrite16)
			if c&0x02 != 0 {
				op = scsi.OpModeSelect10
			}
			if read {
				op = 0x88
			}
			copy(h.CDB(), []byte{op})
			pooled := c&0x04 == 0
			if n := uint32(c>>3&3) * 2048; n > 0 {
				p.Data = r.h.data(int(n), pooled)
			} else {
				pooled = false
			}
			r.h.m.PDU(p, pooled)
		case 1: // Data-Out
			a, b, c := r.byte(), r.byte(), r.byte()
			p := &iscsi.PDU{}
			h := &p.BHS
			h.SetOpcode(iscsi.OpDataOut)
			h.SetITT(uint32(a & 7))
			ttt := uint32(iscsi.ReservedTag)
			if a&0x08 != 0 {
				ttt = uint32(b & 7)
			}
			h.SetTTT(ttt)
			h.SetFinal(a&0x10 != 0)
			h.SetDataSN(uint32(a >> 5 & 3))
			h.SetBufferOffset(uint32(b>>3) * 1024)
			n := uint32(c&7) * 1024
			pooled := c&0x08 == 0 && n > 0
			p.Data = r.h.data(int(n), pooled)
			r.h.m.PDU(p, pooled)
		case 2: // a LUN completes a task
			a, b := r.byte(), r.byte()
			r.complete(a, b)
		case 3: // task management
			a, b, c := r.byte(), r.byte(), r.byte()
			p := &iscsi.PDU{}
			h := &p.BHS
			h.SetOpcode(iscsi.OpTaskMgmtReq)
			h.SetImmediate(true)
			h.SetTMFFunction(a%11 + 1)
			h.SetITT(0x100 + uint32(b))
			h.SetReferencedTaskTag(uint32(c & 7))
			h.SetLUN(scsi.EncodeLUN(uint64(c >> 3 & 1)))
			h.SetCmdSN(cmdSN)
			if !r.h.m.inProgress(h.ITT()) { // else Rejected: task in progress
				r.tmfReqs[h.ITT()] = fuzzTMF{fn: h.TMFFunction(), ref: h.ReferencedTaskTag(), lun: uint64(c >> 3 & 1), reqSeq: r.seq}
			}
			r.h.m.PDU(p, false)
		case 4: // the LUNs answer a task management function
			a := r.byte()
			r.h.m.TMFDone(&pb.TaskManagementDone{Itt: 0x100 + uint32(a), FanOut: 1})
		case 5: // control PDUs
			a := r.byte()
			p := &iscsi.PDU{}
			h := &p.BHS
			h.SetFinal(true)
			h.SetITT(0x200 + uint32(a>>3))
			h.SetImmediate(true)
			h.SetCmdSN(cmdSN)
			switch a % 6 {
			case 0:
				h.SetOpcode(iscsi.OpNopOut)
				h.SetTTT(iscsi.ReservedTag)
			case 1:
				h.SetOpcode(iscsi.OpNopOut)
				h.SetITT(iscsi.ReservedTag)
				h.SetTTT(uint32(a >> 3))
			case 2:
				h.SetOpcode(iscsi.OpTextReq)
				p.Data = []byte("SendTargets=\x00")
			case 3:
				h.SetOpcode(iscsi.OpSNACKReq)
			case 4:
				h.SetOpcode(iscsi.Opcode(a >> 2))
			case 5:
				h.SetOpcode(iscsi.OpLogoutReq)
				h.SetLogoutReason(a >> 3 % 3)
			}
			if h.Opcode() == iscsi.OpTaskMgmtReq && !r.h.m.inProgress(h.ITT()) {
				r.tmfReqs[h.ITT()] = fuzzTMF{fn: h.TMFFunction(), ref: h.ReferencedTaskTag()}
			}
			r.h.m.PDU(p, false)
		case 6:
			if a := r.byte(); a%4 == 3 {
				// Another nexus's function aborts a shared task set: each affected
				// task must still be answered exactly once.
				r.h.m.AbortedByOther(&pb.TaskSetAborted{Target: r.h.m.cfg.Login.Target.Name, Luns: []uint64{uint64(a >> 2 & 1)},
					AllLuns: a&8 != 0, ExpCmdSn: r.h.window.Exp()})
			} else {
				r.h.m.Tick(r.h.start.Add(time.Duration(a) * time.Second))
			}
		case 7:
			r.h.hold = !r.h.hold
		}
		r.drain(t)
	}
	// The end: fill every CmdSN gap so the session releases what it holds, let the
	// LUNs finish every task and answer every function, then close.
	r.h.hold = false
	r.drain(t)
	for i := 0; i < 64 && !r.h.closed && r.h.window.Pending() > 0; i++ {
		p := &iscsi.PDU{}
		p.BHS.SetOpcode(iscsi.OpNopOut)
		p.BHS.SetFinal(true)
		p.BHS.SetITT(0x300 + uint32(i))
		p.BHS.SetTTT(iscsi.ReservedTag)
		p.BHS.SetCmdSN(r.h.window.Exp())
		r.h.m.PDU(p, false)
		r.drain(t)
	}
	for i := 0; i < 64 && len(r.h.atLUN) > 0; i++ {
		r.complete(0, byte(i))
		r.drain(t)
		for itt := range r.h.m.tmfs {
			r.h.m.TMFDone(&pb.TaskManagementDone{Itt: itt, FanOut: 1})
			r.drain(t)
		}
	}
	for itt := range r.h.m.tmfs {
		r.h.m.TMFDone(&pb.TaskManagementDone{Itt: itt, FanOut: 1})
		r.drain(t)
	}
	if t.Failed() {
		return
	}
	r.check(t)
	r.h.m.Closed("end of input")
	r.drain(t)
	if f := r.h.pool.faults; len(f) > 0 {
		r.fail(t, "pool faults: %v", f)
	}
	// What is still out belongs to tasks the session holds behind a CmdSN gap
	// that closed with the connection: they may still reach a LUN.
	var owned []int
	for _, tk := range r.h.m.tasks {
		if tk.pooled && tk.buf != nil {
			owned = append(owned, len(tk.buf))
		}
		for _, p := range tk.parts {
			owned = append(owned, len(p))
		}
	}
	sort.Ints(owned)
	if held := r.h.pool.held(); fmt.Sprint(held) != fmt.Sprint(owned) {
		r.fail(t, "buffers never returned: %v (tasks hold %v)", held, owned)
	}
}

// fail reports a broken invariant with the transcript so far.
func (r *fuzzRun) fail(t *testing.T, format string, args ...any) {
	t.Helper()
	t.Fatalf("%s\ntranscript:\n%s", fmt.Sprintf(format, args...), r.h.out.String())
}

// complete answers one of the tasks the model LUN holds.
func (r *fuzzRun) complete(a, b byte) {
	if len(r.h.atLUN) == 0 {
		return
	}
	var pick *pb.ScsiTask
	for _, t := range r.h.atLUN {
		if pick == nil || t.Itt == uint32(a&7) {
			pick = t
		}
	}
	delete(r.h.atLUN, pick.Itt)
	c := &pb.ScsiCompletion{Itt: pick.Itt, TransferLength: uint32(b&7) * 1024}
	if b&0x08 != 0 {
		c.Status = uint32(scsi.StatusCheckCondition)
		c.Sense = scsi.AppendSense(nil, scsi.InvalidFieldInCDB(0, -1))
	}
	if n := int(b>>4) * 1024; n > 0 && pick.Read {
		c.Pooled = true
		c.DataIn = r.h.data(n, true)
	}
	r.h.m.Complete(c)
}

// observe checks each order and response the machine produces against the tasks
// accepted so far.
func (r *fuzzRun) observe(t *testing.T) {
	r.h.onOrder = func(o *pb.CommandOrder) {
		if o.Task == nil {
			return
		}
		if old := r.outstanding[o.Itt]; old != nil {
			if tk := r.h.m.tasks[o.Itt]; tk != nil && tk.t == old.t {
				r.fail(t, "task %d accepted while an earlier one with its ITT is outstanding", o.Itt)
			}
		}
		ft := &fuzzTask{t: o.Task, seq: r.seq, lun: o.Task.Lun}
		r.outstanding[o.Itt] = ft
		r.tasks = append(r.tasks, ft)
	}
	r.h.onPDU = func(p *iscsi.PDU) {
		h := &p.BHS
		switch {
		case h.Opcode() == iscsi.OpSCSIResp, h.Opcode() == iscsi.OpDataIn && h.HasStatus():
			ft := r.outstanding[h.ITT()]
			if ft == nil || ft.answered {
				r.fail(t, "answer for ITT %d, which has no outstanding task: %s", h.ITT(), describe(p))
			}
			ft.answered = true
			delete(r.outstanding, h.ITT())
		case h.Opcode() == iscsi.OpTaskMgmtResp:
			req, ok := r.tmfReqs[h.ITT()]
			if !ok {
				r.fail(t, "TMF response for ITT %#x never asked", h.ITT())
			}
			delete(r.tmfReqs, h.ITT())
			req.seq = r.seq
			r.tmfs = append(r.tmfs, req)
			if h.Response() == iscsi.TMFRespComplete {
				r.markGone(req)
			}
		}
	}
	r.h.onLUN = func(task *pb.ScsiTask) {
		for _, ft := range r.tasks {
			if ft.t == task {
				if ft.gone {
					r.fail(t, "task %d reached its LUN after a function that aborted it was answered", task.Itt)
				}
				ft.atLUN = true
			}
		}
	}
}

// markGone marks the tasks an answered (immediate) function aborted that have not
// reached their LUN: those that arrived before it, on its LUN (all for a target
// reset), or for ABORT TASK the one it names.
func (r *fuzzRun) markGone(f fuzzTMF) {
	for _, ft := range r.tasks {
		if ft.seq >= f.reqSeq || ft.atLUN || ft.answered {
			continue
		}
		switch f.fn {
		case iscsi.TMFAbortTask:
			ft.gone = ft.gone || ft.t.Itt == f.ref && ft.lun == f.lun && r.outstanding[ft.t.Itt] == ft
		case iscsi.TMFAbortTaskSet, iscsi.TMFClearTaskSet, iscsi.TMFLUNReset:
			ft.gone = ft.gone || ft.lun == f.lun
		case iscsi.TMFTargetWarmReset, iscsi.TMFTargetColdReset:
			ft.gone = true
		}
	}
}

// drain runs the harness once the machine took an input.
func (r *fuzzRun) drain(t *testing.T) {
	r.h.drain()
	if r.h.closed && !r.closedSeen {
		// The connection closes (logout, cold reset): the tasks still outstanding
		// end with it, unanswered, as RFC 7143 has it at ErrorRecoveryLevel 0.
		r.closedSeen = true
		for _, ft := range r.outstanding {
			ft.endedWithConn = true
		}
		// So do the task management functions not yet answered: the tasks they
		// aborted are covered by them.
		for _, req := range r.tmfReqs {
			req.seq = r.seq
			r.tmfs = append(r.tmfs, req)
		}
	}
}

// check verifies that every task that went unanswered was dropped by the session,
// aborted by an answered function that covers it, or still waits for its data.
func (r *fuzzRun) check(t *testing.T) {
	for _, ft := range r.tasks {
		if ft.answered || ft.endedWithConn {
			continue
		}
		if tk := r.h.m.tasks[ft.t.Itt]; tk != nil && tk.t == ft.t {
			if tk.collects() && !tk.complete() || tk.aborted {
				continue // waits for Data-Out, or for a CmdSN that never came
			}
			r.fail(t, "task %d neither answered nor waiting: %+v", ft.t.Itt, describeTask(tk))
		}
		if r.h.dropped[ft.t] || r.coveredByTMF(ft) {
			continue
		}
		r.fail(t, "task %d (cmdsn %d) forgotten without an answer, a drop or a task management function", ft.t.Itt, ft.t.CmdSn)
	}
}

// coveredByTMF reports whether an answered function aborts the task.
func (r *fuzzRun) coveredByTMF(ft *fuzzTask) bool {
	for _, f := range r.tmfs {
		if f.seq < ft.seq {
			continue
		}
		switch f.fn {
		case iscsi.TMFAbortTask:
			if f.ref == ft.t.Itt {
				return true
			}
		case iscsi.TMFAbortTaskSet, iscsi.TMFClearTaskSet, iscsi.TMFLUNReset:
			if f.lun == ft.lun {
				return true
			}
		case iscsi.TMFTargetWarmReset, iscsi.TMFTargetColdReset:
			return true
		}
	}
	return false
}

func describeTask(tk *task) string {
	return fmt.Sprintf("itt=%d ordered=%v dispatched=%v received=%d edtl=%d", tk.t.Itt, tk.ordered, tk.dispatched, tk.received, tk.edtl)
}
