package cmdphase

import (
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/atgt/atgt/actors/bufpool"
	"github.com/atgt/atgt/actors/login"
	"github.com/atgt/atgt/actors/metrics"
	"github.com/atgt/atgt/actors/reservation"
	"github.com/atgt/atgt/actors/slab"
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/iscsi"
)

// Config is what the command phase needs from the login and the target.
type Config struct {
	// Login is the outcome of the connection's login: session type, names, ISID and
	// the negotiated parameters.
	Login login.Result
	// LocalAddr is the address the initiator reached ("host:port", as Go writes
	// it, an IPv6 zone included); SendTargets answers with it, zone dropped.
	LocalAddr string
	// Discovery lists the targets SendTargets may name.
	Discovery []login.DiscoveryTarget
	// Self is where LUNs send completions and task management answers.
	Self *pb.Pid
	// QueueDepth is how many commands the initiator may have in flight.
	QueueDepth uint32
	// NopTimeout is how long a pinged initiator has to send anything.
	NopTimeout time.Duration
	// NopInterval is the silence after which the initiator is pinged.
	NopInterval time.Duration
	// MaxTaskBytes caps the write data buffered for one command (EDTL comes from the
	// network and must not size an allocation unchecked).
	MaxTaskBytes uint32
	// MaxBufferedBytes caps the write data one connection holds at once; commands
	// beyond it get TASK SET FULL.
	MaxBufferedBytes uint64
	// WriteBudget, if set, bounds the write data of every connection of the target
	// together; commands beyond it get TASK SET FULL.
	WriteBudget *WriteBudget
	// DataOutTimeout is how long a task may wait for Data-Out the initiator owes
	// it (an R2T answered in part, or unsolicited data) without any arriving,
	// before the connection is dropped; the connection calls CheckDataOut about
	// every half of it while a task waits (Outbox.OwesData). 0: no limit.
	DataOutTimeout time.Duration
	// Pool supplies and takes back write buffers; nil means bufpool.
	Pool Pool
	// Metrics, if set, counts the Reject PDUs the machine sends.
	Metrics *metrics.Registry
	// MayResetTarget, if set, says whether this nexus may have a TARGET WARM RESET or
	// TARGET COLD RESET of target run (its tasks routed by route), and if not why:
	// a target may keep an initiator that sees only some of its logical units from
	// resetting the others' (README "targetReset"). A refused one is answered
	// "Function authorization failed" (RFC 7143 11.6.1) and resets nothing. nil:
	// every one may.
	MayResetTarget func(target, route string) (ok bool, why string)
	// MayWarn, if set, rate-limits the warning a refused target reset logs
	// (limit.Guard's MayWarn: whether to log, and how many were held back); when it
	// says no the refusal is logged at info. nil: every refusal is logged at warn.
	MayWarn func(kind string) (bool, int)
	// Log receives debug and info lines; nil discards them.
	Log hclog.Logger
	// SendSegment, if set, is where the machine keeps the initiator's
	// MaxRecvDataSegmentLength in force (the bound on every data segment the
	// target sends), so that the admin API shows the value an initiator declared
	// again in a Text Request (RFC 7143 13.12, "Use: ALL") rather than the one of
	// its login. It is the value's only home once the machine starts; nil: the
	// machine keeps its own.
	SendSegment *atomic.Uint32
}

// Pool is where pooled data buffers come from and go back to. The connection's PDU
// reader reads write data into pooled buffers; the machine adopts them into tasks
// and returns each exactly once.
type Pool interface {
	Get(n int) []byte
	Put(b []byte)
}

type bufPool struct{}

func (bufPool) Get(n int) []byte { return bufpool.Get(n) }
func (bufPool) Put(b []byte)     { bufpool.Put(b) }

// Dest names where an outgoing message goes.
type Dest uint8

// The destinations of Outbox messages.
const (
	// ToSession: a CommandOrder for the session, which owns the CmdSN window.
	ToSession Dest = iota + 1
	// ToDispatcher: a ScsiTask whose write data arrived, a TaskManagement or a
	// NexusLoss; the dispatcher routes them to the LUNs.
	ToDispatcher
)

// Msg is one message the actor sends on the machine's behalf.
type Msg struct {
	To Dest
	M  any
}

// Outbox collects what the inputs produced. The actor sends Msgs at once (and
// empties them), and hands PDUs and Release to the PDU writer when its mailbox is
// empty, so that one turn's responses leave in one writev.
type Outbox struct {
	// PDUs to send, in order.
	PDUs []*iscsi.PDU
	// Release are pooled buffers the PDUs point into, returned once they are sent.
	Release [][]byte
	// Msgs for other actors, in order.
	Msgs []Msg
	// Close: close the socket once PDUs are sent; nothing more is produced.
	Close bool
	// Over is set when the connection is over: the actor tells its session why and
	// stops.
	Over string
	// Rearm, when non-zero, is the silence after which the actor should Tick next.
	Rearm time.Duration
	// OwesData is set when a task began to wait for Data-Out (an R2T went out, or
	// unsolicited data was announced): the actor then calls CheckDataOut about every
	// half DataOutTimeout for as long as it reports a task still waiting.
	OwesData bool
}

// request is a non-SCSI request waiting for its turn in CmdSN order.
type request struct {
	p       *iscsi.PDU
	arrival uint64
	// held is the data it holds, counted as write data (orderRequest).
	held uint32
}

// Machine is the command phase of one connection.
type Machine struct {
	cfg Config
	// params are the login's parameters, but for MaxRecvDataSegmentLength, which
	// lives in sendSeg only (zero here): the initiator may declare it again.
	params login.Params
	// sendSeg is the initiator's MaxRecvDataSegmentLength in force (maxSend).
	sendSeg *atomic.Uint32
	pool    Pool
	log     hclog.Logger
	// Out is what the inputs so far produced; the actor drains it.
	Out Outbox

	statSN  uint32
	exp     uint32 // ExpCmdSN as the session last reported it
	lastMax uint32

	taskSlab slab.Slab[task]
	tasks    map[uint32]*task // by ITT
	// ahead are the non-immediate tasks at or beyond the ExpCmdSN the session
	// last reported: the window's own span counts them.
	ahead    ahead
	others   map[uint32]request // non-SCSI requests awaiting CmdSN order, by ITT
	tmfs     map[uint32]*pendingTMF
	r2ts     map[uint32]*r2t // by TTT
	nextTTT  uint32
	buffered uint64 // bytes of write data held by tasks, and of requests' data (others)
	// readHeld is the Data-In the READ tasks not yet answered may still queue for
	// the writer (DataInHeld): each one's EDTL, at most MaxTaskBytes (readCharge).
	readHeld uint64
	// arrivals counts the requests received; a task management function acts
	// only on the tasks that arrived before it.
	arrivals uint64

	pingPending bool
	pingAt      time.Time
	nexusGone   bool
	nexusID     string
	// replaced: a connection reinstatement ends this connection, and the nexus
	// goes on over the new one (Replaced).
	replaced bool
	// route is the name the nexus's tasks and functions carry as their target, by
	// which they reach the logical units this initiator sees (login.Result.Route).
	route string
	// loggedOut: a Logout Request closing the session or connection was answered.
	loggedOut bool
	// textX: a Text Request or Response in parts awaits the initiator's next
	// Text Request of the exchange (text.go).
	textX *textExchange
}

// LoggedOut reports whether the initiator logged out (a Logout Request closing the
// session or connection was answered), so that the connection's end can be told
// from a dropped one.
func (m *Machine) LoggedOut() bool { return m.loggedOut }

// New starts the command phase after a successful login. statSN is the next StatSN
// (the login used the ones before) and firstCmdSN the CmdSN the login carried, which
// the session's window starts from.
func New(cfg Config, statSN, firstCmdSN uint32) *Machine {
	m := &Machine{
		cfg:     cfg,
		params:  cfg.Login.Params,
		pool:    cfg.Pool,
		log:     cfg.Log,
		statSN:  statSN,
		exp:     firstCmdSN,
		lastMax: firstCmdSN + cfg.QueueDepth - 1,
		tasks:   map[uint32]*task{},
		others:  map[uint32]request{},
		tmfs:    map[uint32]*pendingTMF{},
		r2ts:    map[uint32]*r2t{},
		route:   cfg.Login.Route,
		sendSeg: cfg.SendSegment,
	}
	if m.sendSeg == nil {
		m.sendSeg = new(atomic.Uint32)
	}
	m.sendSeg.Store(m.params.MaxRecvDataSegmentLength)
	m.params.MaxRecvDataSegmentLength = 0 // one home: sendSeg
	if m.route == "" {
		m.route = cfg.Login.Target.Name
	}
	if m.pool == nil {
		m.pool = bufPool{}
	}
	if m.log == nil {
		m.log = hclog.NewNullLogger()
	}
	return m
}

// maxSend is the initiator's MaxRecvDataSegmentLength in force: the most data one
// PDU the target sends may carry (0: no bound, as in tests without a login).
func (m *Machine) maxSend() uint32 { return m.sendSeg.Load() }

// Discovery reports a discovery session (no SCSI commands).
func (m *Machine) Discovery() bool { return m.cfg.Login.SessionType == login.SessionDiscovery }

// PDU takes one PDU from the reader. pooled says its data segment is a Pool buffer
// that the machine now owns: a task adopts it, or it goes back to the pool.
func (m *Machine) PDU(p *iscsi.PDU, pooled bool) {
	if m.pingPending {
		// Anything from the initiator answers the ping.
		m.pingPending = false
		m.Out.Rearm = m.cfg.NopInterval
	}
	adopted := false
	switch op := p.BHS.Opcode(); {
	case m.Out.Close:
	case op == iscsi.OpSCSICmd && !m.Discovery():
		adopted = m.scsiCommand(p, pooled)
	case op == iscsi.OpDataOut && !m.Discovery():
		adopted = m.dataOut(p, pooled)
	case op == iscsi.OpNopOut && p.BHS.ITT() == iscsi.ReservedTag:
		// The answer to our ping; arriving was enough.
	case op == iscsi.OpNopOut, op == iscsi.OpTextReq, op == iscsi.OpLogoutReq,
		op == iscsi.OpTaskMgmtReq && !m.Discovery():
		switch {
		case p.BHS.ITT() == iscsi.ReservedTag:
			// Only the answer to a ping carries the reserved ITT (RFC 7143 11.2.1.8).
			m.rejectCommand(iscsi.RejectProtocolError, &p.BHS)
		case m.inProgress(p.BHS.ITT()):
			m.rejectCommand(iscsi.RejectTaskInProgress, &p.BHS)
		default:
			m.orderRequest(p)
		}
	case op == iscsi.OpSNACKReq:
		m.reject(iscsi.RejectSNACK, &p.BHS)
	case op == iscsi.OpSCSICmd, op == iscsi.OpTaskMgmtReq:
		// A discovery session takes only Text and Logout requests (RFC 7143 4.3).
		// The refused request still used its CmdSN, which the initiator may not
		// send again (11.17.1): a non-immediate one takes it, or every later
		// request would wait behind the hole.
		m.rejectCommand(iscsi.RejectProtocolError, &p.BHS)
	default:
		// Data-Out, SNACK and unknown opcodes carry no CmdSN; a Login Request after
		// the login is always immediate (11.12: its I bit is 1) and takes none.
		m.reject(iscsi.RejectProtocolError, &p.BHS)
	}
	if pooled && !adopted {
		m.pool.Put(p.Data)
	}
}

// inProgress reports whether a request with this ITT is still outstanding: the ITT
// names one task at a time across every kind of request (RFC 7143 11.2.1.8).
func (m *Machine) inProgress(itt uint32) bool {
	if _, ok := m.tasks[itt]; ok {
		return true
	}
	if _, ok := m.others[itt]; ok {
		return true
	}
	_, ok := m.tmfs[itt]
	return ok
}

// DataDigestError takes a PDU whose data digest was wrong. RFC 7143 7.8: discard it
// and Reject it. A Data-Out's task has lost data (see lostData). A command's CmdSN
// is not taken: a PDU rejected for its digest may be sent again (11.17.1), and the
// initiator plugs the hole with that retry or with an ABORT TASK naming the CmdSN
// (11.5.1 b).
func (m *Machine) DataDigestError(h *iscsi.BHS) {
	m.reject(iscsi.RejectDataDigest, h)
	if h.Opcode() == iscsi.OpDataOut && !m.Discovery() {
		// A task whose data is all there lost nothing (the PDU was extra).
		if tk, r := m.dataTask(h); tk != nil && !tk.dispatched && !tk.complete() {
			m.lostData(tk, r, h, h.DataSegmentLength())
		}
	}
}

// Closed ends the command phase: the socket is gone or the actor stops. The LUNs
// learn that the I_T nexus is lost, and the write data of tasks that will never
// reach a LUN goes back to the pool. A task with a LUN, or one the session may
// still send to its LUN, keeps its buffers: an IO worker may be using them.
//
// Every task gives its share of the write budget back, a task that keeps its
// buffers too: the connection will never see its completion, so the share would
// stay taken for good (the buffers themselves go with the task's IO).
func (m *Machine) Closed(reason string) {
	for _, tk := range m.tasks {
		if !tk.dispatched && !tk.sessionDispatches {
			m.forget(tk)
		} else {
			m.unhold(tk)
		}
	}
	for itt, req := range m.others {
		delete(m.others, itt)
		m.unholdRequest(req)
	}
	m.nexusLost()
	m.over(reason)
}

// Replaced ends the command phase for a connection reinstatement (RFC 7143 6.3.4):
// as Closed, but the LUNs learn that only this connection's tasks end (at
// ErrorRecoveryLevel 0 they are terminated without further notice to the
// initiator), not the I_T nexus, whose session goes on over the new connection.
func (m *Machine) Replaced(reason string) {
	m.replaced = true
	m.Closed(reason)
}

// over ends the connection: the actor stops after it tells the session.
func (m *Machine) over(reason string) {
	if m.Out.Over == "" {
		m.Out.Over = reason
	}
}

// sendAndClose queues p (if any) and has the socket closed after it; nothing more
// is sent on this connection.
func (m *Machine) sendAndClose(p *iscsi.PDU) {
	if p != nil {
		m.emit(p)
	}
	m.Out.Close = true
}

// emit queues a PDU for the writer.
func (m *Machine) emit(p *iscsi.PDU) {
	if m.Out.Close {
		return
	}
	m.Out.PDUs = append(m.Out.PDUs, p)
}

// send queues a message for another actor.
func (m *Machine) send(to Dest, msg any) { m.Out.Msgs = append(m.Out.Msgs, Msg{To: to, M: msg}) }

// nextStatSN returns the StatSN for a status-carrying PDU and advances it.
func (m *Machine) nextStatSN() uint32 {
	s := m.statSN
	m.statSN++
	return s
}

// nexusLost tells the target's LUNs, once, that this I_T nexus has ended. It goes
// before a Logout Response, so that the LUNs know before the initiator can act on
// the logout.
func (m *Machine) nexusLost() {
	if m.nexusGone || m.Discovery() {
		return
	}
	m.nexusGone = true
	m.send(ToDispatcher, &pb.NexusLoss{Target: m.route, Nexus: m.nexus(), ReplyTo: m.cfg.Self, ConnectionOnly: m.replaced})
}

// nexus names the I_T nexus: initiator name and ISID, as SPC-4 identifies an
// initiator port.
func (m *Machine) nexus() string {
	if m.nexusID == "" {
		m.nexusID = reservation.NexusID(m.cfg.Login.InitiatorName, m.cfg.Login.ISID)
	}
	return m.nexusID
}

// newTTT returns a target transfer tag not in use: never the reserved 0xffffffff.
func (m *Machine) newTTT() uint32 {
	m.nextTTT++
	if m.nextTTT == iscsi.ReservedTag {
		m.nextTTT = 1
	}
	return m.nextTTT
}

// Tasks is the number of SCSI commands the connection holds (received, not yet
// answered), for the admin API.
func (m *Machine) Tasks() int { return len(m.tasks) }

// HasTask reports whether the SCSI task itt is still the connection's (not yet
// answered or forgotten), for the connection's trace of it.
func (m *Machine) HasTask(itt uint32) bool {
	_, ok := m.tasks[itt]
	return ok
}

// DataInHeld is the Data-In the commands that read and are not yet answered may
// still queue (each one's readCharge), which the connection's reader counts
// against its bound before it takes more commands.
func (m *Machine) DataInHeld() uint64 { return m.readHeld }

// ReadCharge is what a command that reads with this EDTL may make the target send:
// its EDTL, but never more than maxTaskBytes, the LUNs' maximum transfer (a READ
// asking for more is refused, and no other command's Data-In comes near it); 0: no
// cap. EDTL comes from the network: uncapped, one READ of one block with a huge EDTL
// held that much of the Data-In budgets while it waited (RFC 7143 11.4.5: EDTL may
// exceed what the command moves). The machine's DataInHeld and the connection's
// reader charge the same, so their counts meet.
func ReadCharge(edtl, maxTaskBytes uint32) uint64 {
	if maxTaskBytes > 0 && edtl > maxTaskBytes {
		return uint64(maxTaskBytes)
	}
	return uint64(edtl)
}

// readCharge is ReadCharge with this connection's MaxTaskBytes.
func (m *Machine) readCharge(edtl uint32) uint64 { return ReadCharge(edtl, m.cfg.MaxTaskBytes) }
