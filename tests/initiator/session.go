package initiator

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/atgt/atgt/actors/cmdsn"
	"github.com/atgt/atgt/messages/iscsi"
)

// reservedTag is the ITT/TTT value that means "none" (RFC 7143 11.18).
const reservedTag = 0xffffffff

// AsyncEvent is an Asynchronous Message's event and parameters (for AsyncEvent 1,
// logout requested, Parameter3 is the seconds the initiator has to log out).
type AsyncEvent struct {
	Event                              uint8
	Parameter1, Parameter2, Parameter3 uint16
}

// Session is one logged-in iSCSI session over one TCP connection. Its methods are
// safe for concurrent use: several commands may be outstanding at once.
type Session struct {
	// Params are the negotiated values, fixed after Dial.
	Params Params
	// Rejects receives Reject PDUs that answer no outstanding task (for example a
	// Data-Out a test injected with SendPDU). Full means dropped.
	Rejects chan *RejectError
	// Async receives the target's Asynchronous Messages (RFC 7143 11.9), such as
	// a request to log out when the target stops. Full means dropped.
	Async chan AsyncEvent
	// Pings counts target NOP-In pings received (answered or not).
	Pings atomic.Int64
	// Strays counts target PDUs for an ITT no outstanding task of this connection
	// holds: answers the target should not have sent here (say, to a task of a
	// connection this one reinstated).
	Strays atomic.Int64

	opts Options
	nc   net.Conn
	rd   *iscsi.Reader

	wmu sync.Mutex // serialises writes on nc

	mu        sync.Mutex
	cmdSN     uint32
	expCmdSN  uint32
	maxCmdSN  uint32
	winCh     chan struct{} // closed and replaced when the window may have opened
	expStatSN uint32
	nextITT   uint32
	tasks     map[uint32]*inbox
	err       error

	done     chan struct{} // closed when the reader has ended
	closeOne sync.Once
}

// RawConn returns the TCP connection, for tests that inject bytes. Writes on it race
// with the session's own writes; SendPDU is the ordered way.
func (s *Session) RawConn() net.Conn { return s.nc }

// Done is closed when the connection has ended (by either side).
func (s *Session) Done() <-chan struct{} { return s.done }

// Err returns why the connection ended, or nil while it is up.
func (s *Session) Err() error {
	select {
	case <-s.done:
		return s.connErr()
	default:
		return nil
	}
}

func (s *Session) connErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		return ErrClosed
	}
	return s.err
}

// Close drops the TCP connection without logging out and waits for the reader.
func (s *Session) Close() error {
	s.shutdown(ErrClosed)
	<-s.done
	return nil
}

// shutdown records the first reason and closes the socket, ending the reader.
func (s *Session) shutdown(reason error) {
	s.closeOne.Do(func() {
		s.mu.Lock()
		if s.err == nil {
			s.err = reason
		}
		s.mu.Unlock()
		s.nc.Close()
	})
}

// SendPDU writes p as is, apart from ExpStatSN (bytes 28..31) which it fills for
// initiator PDUs that carry it, with the negotiated digests. Tests use it to inject
// PDUs the normal API would never build.
func (s *Session) SendPDU(p *iscsi.PDU) error {
	return s.send(p)
}

// send writes one or more PDUs in one write, stamping ExpStatSN.
func (s *Session) send(pdus ...*iscsi.PDU) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.Lock()
	exp := s.expStatSN
	s.mu.Unlock()
	var bufs net.Buffers
	for _, p := range pdus {
		if p.BHS.Opcode() != iscsi.OpLoginReq {
			p.BHS.SetExpStatSN(exp)
		}
		bufs = iscsi.AppendPDU(bufs, p, s.Params.HeaderDigest, s.Params.DataDigest)
	}
	s.nc.SetWriteDeadline(time.Now().Add(s.opts.Timeout))
	if _, err := bufs.WriteTo(s.nc); err != nil {
		s.shutdown(fmt.Errorf("initiator: write: %w", err))
		return s.connErr()
	}
	return nil
}

// register allocates an ITT and an inbox for a request's answers.
func (s *Session) register() (uint32, *inbox) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		s.nextITT++
		itt := s.nextITT
		if itt == reservedTag {
			continue
		}
		if _, busy := s.tasks[itt]; busy {
			continue
		}
		b := newInbox()
		s.tasks[itt] = b
		return itt, b
	}
}

func (s *Session) unregister(itt uint32) {
	s.mu.Lock()
	delete(s.tasks, itt)
	s.mu.Unlock()
}

// sendNumbered sends a request that consumes a CmdSN (or, if immediate, carries the
// current one), waiting while the target's window is closed. build is called with the
// CmdSN and returns the PDUs to send in one write (command plus unsolicited data).
func (s *Session) sendNumbered(immediate bool, deadline time.Time, build func(cmdSN uint32) []*iscsi.PDU) error {
	for {
		s.mu.Lock()
		open := immediate || !cmdsn.Less(s.maxCmdSN, s.cmdSN)
		ch := s.winCh
		s.mu.Unlock()
		if !open {
			t := time.NewTimer(time.Until(deadline))
			select {
			case <-ch:
				t.Stop()
				continue
			case <-s.done:
				t.Stop()
				return s.connErr()
			case <-t.C:
				return fmt.Errorf("%w: CmdSN window closed (CmdSN %d > MaxCmdSN %d)", ErrTimeout, s.cmdSN, s.maxCmdSN)
			}
		}
		// Take the write lock before the number, so PDUs go out in CmdSN order.
		s.wmu.Lock()
		s.mu.Lock()
		if !immediate && cmdsn.Less(s.maxCmdSN, s.cmdSN) {
			s.mu.Unlock()
			s.wmu.Unlock()
			continue // another sender took the last slot
		}
		sn := s.cmdSN
		if !immediate {
			s.cmdSN++
		}
		exp := s.expStatSN
		s.mu.Unlock()
		var bufs net.Buffers
		for _, p := range build(sn) {
			p.BHS.SetExpStatSN(exp)
			bufs = iscsi.AppendPDU(bufs, p, s.Params.HeaderDigest, s.Params.DataDigest)
		}
		s.nc.SetWriteDeadline(time.Now().Add(s.opts.Timeout))
		_, err := bufs.WriteTo(s.nc)
		s.wmu.Unlock()
		if err != nil {
			s.shutdown(fmt.Errorf("initiator: write: %w", err))
			return s.connErr()
		}
		return nil
	}
}

// SendNumberedPDU sends a request built by a test in CmdSN order: it takes the next
// CmdSN (p's CmdSN field is set to it) unless p is immediate, as a real command
// would, even one the target will reject.
func (s *Session) SendNumberedPDU(p *iscsi.PDU) error {
	return s.sendNumbered(p.BHS.Immediate(), time.Now().Add(s.opts.Timeout), func(sn uint32) []*iscsi.PDU {
		p.BHS.SetCmdSN(sn)
		return []*iscsi.PDU{p}
	})
}

// SkipCmdSN takes the next CmdSN without sending anything, as if the command that
// carried it was lost on the way: the target sees a hole in the CmdSN sequence.
func (s *Session) SkipCmdSN() uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cmdSN++
	return s.cmdSN - 1
}

// CmdSN returns the next CmdSN the session will use, for tests that build PDUs.
func (s *Session) CmdSN() uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmdSN
}

// Window returns ExpCmdSN and MaxCmdSN as the target last stated them, for tests of
// the command window: MaxCmdSN-ExpCmdSN+1 commands may be sent.
func (s *Session) Window() (expCmdSN, maxCmdSN uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.expCmdSN, s.maxCmdSN
}

// updateWindow takes ExpCmdSN/MaxCmdSN from a target PDU (RFC 7143 4.2.2.1): values
// with MaxCmdSN < ExpCmdSN-1 are invalid and ignored, older values never win.
func (s *Session) updateWindow(h *iscsi.BHS) {
	exp, max := h.ExpCmdSN(), h.MaxCmdSN()
	if cmdsn.Less(max, exp-1) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	changed := false
	if cmdsn.Less(s.expCmdSN, exp) {
		s.expCmdSN, changed = exp, true
	}
	if cmdsn.Less(s.maxCmdSN, max) {
		s.maxCmdSN, changed = max, true
	}
	if changed {
		close(s.winCh)
		s.winCh = make(chan struct{})
	}
}

// ackStatSN advances ExpStatSN past a status-carrying PDU.
func (s *Session) ackStatSN(statSN uint32) {
	s.mu.Lock()
	if !cmdsn.Less(statSN+1, s.expStatSN) {
		s.expStatSN = statSN + 1
	}
	s.mu.Unlock()
}

// readLoop is the session's one reader: it parses every PDU, keeps the sequence
// numbers, answers pings and routes the rest to the task that owns its ITT.
func (s *Session) readLoop() {
	defer close(s.done)
	lim := iscsi.Limits{
		MaxRecvDataSegmentLength: s.Params.MaxRecvDataSegmentLength,
		HeaderDigest:             s.Params.HeaderDigest,
		DataDigest:               s.Params.DataDigest,
	}
	for {
		// A long idle bound: the reader must not outlive a forgotten session forever.
		s.nc.SetReadDeadline(time.Now().Add(10 * s.opts.Timeout))
		p := &iscsi.PDU{}
		if err := s.rd.Read(lim, p); err != nil {
			var dd *iscsi.DataDigestError
			if errors.As(err, &dd) {
				s.shutdown(fmt.Errorf("initiator: %w", err))
			} else {
				s.shutdown(fmt.Errorf("initiator: read: %w", err))
			}
			return
		}
		s.dispatch(p)
	}
}

// dispatch handles one target PDU.
func (s *Session) dispatch(p *iscsi.PDU) {
	h := &p.BHS
	op := h.Opcode()
	if op != iscsi.OpLoginResp {
		s.updateWindow(h)
	}
	switch op {
	case iscsi.OpSCSIResp, iscsi.OpTextResp, iscsi.OpLogoutResp, iscsi.OpTaskMgmtResp, iscsi.OpReject:
		s.ackStatSN(h.StatSN())
	case iscsi.OpDataIn:
		if h.HasStatus() {
			s.ackStatSN(h.StatSN())
		}
	case iscsi.OpNopIn:
		if h.ITT() != reservedTag {
			s.ackStatSN(h.StatSN())
		}
	case iscsi.OpAsyncMsg:
		s.ackStatSN(h.StatSN())
		p1, p2, p3 := h.AsyncParameters()
		select {
		case s.Async <- AsyncEvent{Event: h.AsyncEvent(), Parameter1: p1, Parameter2: p2, Parameter3: p3}:
		default:
		}
		return
	}
	if op == iscsi.OpNopIn && h.ITT() == reservedTag {
		s.Pings.Add(1)
		if h.TTT() != reservedTag && !s.opts.IgnorePings {
			s.answerPing(h)
		}
		return
	}
	itt := h.ITT()
	if op == iscsi.OpReject {
		var bad iscsi.BHS
		copy(bad[:], p.Data)
		itt = bad.ITT()
		re := &RejectError{Reason: h.Response(), Header: bad}
		s.mu.Lock()
		b := s.tasks[itt]
		s.mu.Unlock()
		if b != nil && len(p.Data) >= iscsi.BHSLength {
			b.put(p)
			return
		}
		select {
		case s.Rejects <- re:
		default:
		}
		return
	}
	s.mu.Lock()
	b := s.tasks[itt]
	s.mu.Unlock()
	if b != nil {
		b.put(p)
		return
	}
	s.Strays.Add(1)
}

// answerPing replies to a target NOP-In ping: NOP-Out, ITT reserved, I bit, same TTT
// and LUN, CmdSN not advanced (RFC 7143 11.18).
func (s *Session) answerPing(in *iscsi.BHS) {
	s.mu.Lock()
	p := &iscsi.PDU{BHS: pingAnswer(in, s.cmdSN, s.expStatSN)}
	s.mu.Unlock()
	go s.send(p) // never block the reader on the socket
}

// pingAnswer is the NOP-Out header that answers a target ping: ITT reserved, I bit,
// the ping's TTT and LUN, CmdSN not advanced (RFC 7143 11.18).
func pingAnswer(in *iscsi.BHS, cmdSN, expStatSN uint32) iscsi.BHS {
	var h iscsi.BHS
	h.SetOpcode(iscsi.OpNopOut)
	h.SetImmediate(true)
	h.SetFinal(true)
	h.SetLUN(in.LUN())
	h.SetITT(reservedTag)
	h.SetTTT(in.TTT())
	h.SetCmdSN(cmdSN)
	h.SetExpStatSN(expStatSN)
	return h
}
