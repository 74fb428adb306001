package cmdphase

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/atgt/atgt/actors/cmdsn"
	"github.com/atgt/atgt/actors/login"
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/iscsi"
)

// harness drives a Machine as the connection actor would, with a model session (a
// real cmdsn.Window, which releases ready tasks to a model LUN) and a pool that
// tracks every buffer, so that a transcript shows each output and a test can check
// that every buffer went back exactly once.
type harness struct {
	m      *Machine
	pool   *trackPool
	window *cmdsn.Window
	// hold keeps the session from ordering until "session release".
	hold   bool
	orders []any // CommandOrders and Withdraws, in the order sent
	// atLUN are the tasks the model LUN holds, by ITT, until "complete".
	atLUN map[uint32]*pb.ScsiTask
	// onOrder and onPDU, when set, see every order and PDU the machine produces;
	// onLUN every task that reaches the model LUN.
	onOrder func(*pb.CommandOrder)
	onPDU   func(*iscsi.PDU)
	onLUN   func(*pb.ScsiTask)
	// dropped are the tasks the model session dropped.
	dropped map[*pb.ScsiTask]bool
	// lunOrder records the order tasks reached the LUN, for transcripts.
	start  time.Time
	out    strings.Builder
	closed bool
}

func newHarness(cfg Config, firstCmdSN uint32) *harness {
	h := &harness{pool: newTrackPool(), atLUN: map[uint32]*pb.ScsiTask{}, dropped: map[*pb.ScsiTask]bool{}, start: time.Unix(1_700_000_000, 0)}
	cfg.Pool = h.pool
	cfg.Self = &pb.Pid{Address: "nonhost", Id: "conn"}
	h.m = New(cfg, 1, firstCmdSN)
	h.window = cmdsn.NewWindow(firstCmdSN, cfg.QueueDepth)
	return h
}

// defaultConfig is a normal session with libiscsi's usual negotiation.
func defaultConfig() Config {
	p := login.DefaultParams()
	p.InitialR2T = false
	p.ImmediateData = true
	p.MaxRecvDataSegmentLength = 262144
	p.MaxXmitDataSegmentLength = 262144
	p.FirstBurstLength = 65536
	p.MaxBurstLength = 262144
	p.MaxOutstandingR2T = 1
	return Config{
		Login: login.Result{
			Params: p, SessionType: login.SessionNormal,
			InitiatorName: "iqn.2026-11.test:init", ISID: [6]byte{0x80, 0, 0, 0, 0, 1},
			Target: login.TargetInfo{Name: "iqn.2026-11.test:tgt"},
		},
		LocalAddr:        "127.0.0.1:3260",
		Discovery:        []login.DiscoveryTarget{{Name: "iqn.2026-11.test:tgt"}},
		QueueDepth:       8,
		NopInterval:      30 * time.Second,
		NopTimeout:       30 * time.Second,
		MaxTaskBytes:     16 << 20,
		MaxBufferedBytes: 64 << 20,
	}
}

// drain prints and carries out the outbox: messages to the model session and
// dispatcher, PDUs as the writer would send them (their Release buffers returned).
func (h *harness) drain() {
	out := &h.m.Out
	for _, msg := range out.Msgs {
		switch m := msg.M.(type) {
		case *pb.CommandOrder:
			if m.Itt == cmdsn.PlaceholderITT && m.Task == nil {
				h.printf("-> session: consume cmdsn=%d max=%d\n", m.CmdSn, m.MaxCmdSn)
				h.orders = append(h.orders, m)
				continue
			}
			h.printf("-> session: order itt=%d cmdsn=%d max=%d%s%s\n", m.Itt, m.CmdSn, m.MaxCmdSn, flag(m.Immediate, " immediate"),
				flag(m.Task != nil && m.Task.DataPending, " data-pending"))
			h.orders = append(h.orders, m)
			if h.onOrder != nil {
				h.onOrder(m)
			}
		case *pb.ScsiTask:
			h.printf("-> dispatcher: task itt=%d lun=%d%s\n", m.Itt, m.Lun, dataDesc(m))
			h.toLUN(m)
		case *pb.TaskManagement:
			h.printf("-> dispatcher: tmf %s itt=%d lun=%d%s\n", m.Function, m.Itt, m.Lun,
				flag(m.ReferencedItt != 0, fmt.Sprintf(" ref=%d", m.ReferencedItt)))
		case *pb.NexusLoss:
			h.printf("-> dispatcher: nexus-loss %s\n", m.Nexus)
		case *cmdsn.Withdraw:
			h.printf("-> session: withdraw itt=%d cmdsn=%d\n", m.Task.Itt, m.CmdSn)
			h.orders = append(h.orders, m)
		case *pb.TaskSetAborted:
			h.printf("-> session: task-set-aborted luns=%v all=%v by=%s\n", m.Luns, m.AllLuns, m.ByNexus)
		case *TargetColdReset:
			h.printf("-> session: target-cold-reset\n")
		default:
			h.printf("-> ?: %T\n", m)
		}
	}
	out.Msgs = out.Msgs[:0]
	for _, p := range out.PDUs {
		h.printf("%s\n", describe(p))
		if h.onPDU != nil {
			h.onPDU(p)
		}
	}
	out.PDUs = out.PDUs[:0]
	for _, b := range out.Release {
		h.pool.Put(b)
	}
	out.Release = out.Release[:0]
	if out.Rearm > 0 {
		h.printf("rearm %s\n", out.Rearm)
		out.Rearm = 0
	}
	if out.Close && !h.closed {
		h.printf("close socket\n")
		h.closed = true
	}
	if out.Over != "" {
		h.printf("over: %s\n", out.Over)
		out.Over = ""
	}
	if !h.hold {
		h.runSession()
	}
}

// runSession orders what the machine sent, as the session actor does: ready tasks
// whose data is complete go to the model LUN, everything else back as CommandReady.
func (h *harness) runSession() {
	for len(h.orders) > 0 {
		msg := h.orders[0]
		h.orders = h.orders[1:]
		if w, ok := msg.(*cmdsn.Withdraw); ok {
			if o, ok := h.window.Withdraw(w.CmdSn, w.Task); ok {
				h.printf("session: withdrew itt=%d cmdsn=%d\n", o.Itt, o.CmdSn)
				h.m.Ready(&pb.CommandReady{Itt: o.Itt, Task: o.Task, Dropped: true, ExpCmdSn: h.window.Exp()})
				h.drain()
			}
			continue
		}
		o := msg.(*pb.CommandOrder)
		ready, ok := h.window.Accept(o)
		exp := h.window.Exp()
		if !ok {
			h.printf("session: dropped itt=%d cmdsn=%d exp=%d\n", o.Itt, o.CmdSn, exp)
			if o.Task != nil {
				h.dropped[o.Task] = true
			}
			h.m.Ready(&pb.CommandReady{Itt: o.Itt, Task: o.Task, Dropped: true, ExpCmdSn: exp})
			h.drain()
			continue
		}
		ready = append([]*pb.CommandOrder(nil), ready...)
		for _, r := range ready {
			if r.Task != nil {
				r.Task.ExpCmdSn = exp
				if !r.Task.DataPending {
					h.printf("session -> lun: task itt=%d lun=%d%s\n", r.Task.Itt, r.Task.Lun, dataDesc(r.Task))
					h.toLUN(r.Task)
					continue
				}
			}
			if r.Itt == cmdsn.PlaceholderITT && r.Task == nil {
				h.printf("session: passed cmdsn=%d exp=%d\n", r.CmdSn, exp)
			} else {
				h.printf("session: ready itt=%d exp=%d\n", r.Itt, exp)
			}
			h.m.Ready(&pb.CommandReady{Itt: r.Itt, Task: r.Task, ExpCmdSn: exp})
			h.drain()
		}
	}
}

// toLUN hands a task to the model LUN.
func (h *harness) toLUN(t *pb.ScsiTask) {
	h.atLUN[t.Itt] = t
	if h.onLUN != nil {
		h.onLUN(t)
	}
}

func (h *harness) printf(format string, args ...any) { fmt.Fprintf(&h.out, format, args...) }

func flag(on bool, s string) string {
	if on {
		return s
	}
	return ""
}

// dataDesc summarises a task's write data: its length and how it is held.
func dataDesc(t *pb.ScsiTask) string {
	switch {
	case len(t.DataOutParts) > 0:
		var lens []string
		n := 0
		for _, p := range t.DataOutParts {
			lens = append(lens, strconv.Itoa(len(p)))
			n += len(p)
		}
		return fmt.Sprintf(" data=%d parts=%s", n, strings.Join(lens, "+"))
	case t.DataOut != nil:
		return fmt.Sprintf(" data=%d", len(t.DataOut))
	}
	return ""
}

// describe prints a PDU the target sends, with the fields that matter for its type.
func describe(p *iscsi.PDU) string {
	h := &p.BHS
	var b strings.Builder
	win := fmt.Sprintf(" exp=%d max=%d", h.ExpCmdSN(), h.MaxCmdSN())
	switch h.Opcode() {
	case iscsi.OpR2T:
		fmt.Fprintf(&b, "R2T itt=%d ttt=%d r2tsn=%d off=%d len=%d statsn=%d", h.ITT(), h.TTT(), h.R2TSN(),
			h.BufferOffset(), h.DesiredDataTransferLength(), h.StatSN())
	case iscsi.OpDataIn:
		fmt.Fprintf(&b, "Data-In itt=%d datasn=%d off=%d len=%d", h.ITT(), h.DataSN(), h.BufferOffset(), len(p.Data))
		if h.Final() {
			b.WriteString(" F")
		}
		if h.HasStatus() {
			fmt.Fprintf(&b, " S status=%#02x statsn=%d%s", h.Status(), h.StatSN(), resid(h))
		}
	case iscsi.OpSCSIResp:
		fmt.Fprintf(&b, "SCSI-Response itt=%d status=%#02x statsn=%d expdatasn=%d%s", h.ITT(), h.Status(),
			h.StatSN(), h.ExpDataSN(), resid(h))
		if len(p.Data) > 2 {
			s := p.Data[2:]
			fmt.Fprintf(&b, " sense=%x/%02x/%02x", s[2]&0xf, s[12], s[13])
		}
	case iscsi.OpNopIn:
		fmt.Fprintf(&b, "NOP-In itt=%#x ttt=%#x statsn=%d len=%d", h.ITT(), h.TTT(), h.StatSN(), len(p.Data))
	case iscsi.OpTextResp:
		fmt.Fprintf(&b, "Text-Response itt=%d statsn=%d %q", h.ITT(), h.StatSN(), strings.ReplaceAll(string(p.Data), "\x00", ";"))
		if h.Continue() {
			b.WriteString(" C")
		}
		if h.TTT() != iscsi.ReservedTag {
			fmt.Fprintf(&b, " ttt=%d", h.TTT())
		}
		if h.LUN() != 0 {
			fmt.Fprintf(&b, " lun=%#x", h.LUN())
		}
		if !h.Final() {
			b.WriteString(" F=0")
		}
	case iscsi.OpLogoutResp:
		fmt.Fprintf(&b, "Logout-Response itt=%d response=%d statsn=%d", h.ITT(), h.Response(), h.StatSN())
	case iscsi.OpTaskMgmtResp:
		fmt.Fprintf(&b, "TMF-Response itt=%d response=%d statsn=%d", h.ITT(), h.Response(), h.StatSN())
	case iscsi.OpAsyncMsg:
		p1, p2, p3 := h.AsyncParameters()
		fmt.Fprintf(&b, "Async-Message event=%d statsn=%d p1=%d p2=%d p3=%d", h.AsyncEvent(), h.StatSN(), p1, p2, p3)
	case iscsi.OpReject:
		var bad iscsi.BHS
		copy(bad[:], p.Data)
		fmt.Fprintf(&b, "Reject reason=%#02x statsn=%d of %s itt=%#x", h.Response(), h.StatSN(), bad.Opcode(), bad.ITT())
	default:
		fmt.Fprintf(&b, "%s itt=%#x", h.Opcode(), h.ITT())
	}
	b.WriteString(win)
	return b.String()
}

func resid(h *iscsi.BHS) string {
	switch {
	case h.ResidualOverflow():
		return fmt.Sprintf(" overflow=%d", h.ResidualCount())
	case h.ResidualUnderflow():
		return fmt.Sprintf(" underflow=%d", h.ResidualCount())
	}
	return ""
}

// trackPool is a Pool that knows every buffer it gave out: Put of a buffer it did
// not give, or twice, is recorded as a fault.
type trackPool struct {
	out    map[*byte]int // first byte -> length, buffers given out
	faults []string
	gets   int
}

func newTrackPool() *trackPool { return &trackPool{out: map[*byte]int{}} }

func (p *trackPool) Get(n int) []byte {
	b := make([]byte, n, n+1) // never empty: the first byte names it
	p.out[&b[:1][0]] = n
	p.gets++
	return b
}

func (p *trackPool) Put(b []byte) {
	if cap(b) == 0 {
		p.faults = append(p.faults, "put of an empty buffer")
		return
	}
	k := &b[:1][0]
	if _, ok := p.out[k]; !ok {
		p.faults = append(p.faults, fmt.Sprintf("put of a buffer not out (len %d)", len(b)))
		return
	}
	delete(p.out, k)
}

// held lists the buffers not returned, by length.
func (p *trackPool) held() []int {
	var n []int
	for _, l := range p.out {
		n = append(n, l)
	}
	sort.Ints(n)
	return n
}
