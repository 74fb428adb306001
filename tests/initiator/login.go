package initiator

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/atgt/atgt/actors/login"
	"github.com/atgt/atgt/messages/iscsi"
)

// loginITT tags every request of the login; the session's tasks start after it.
const loginITT = 0

// firstCmdSN is the CmdSN of the login; the first command after login reuses it.
const firstCmdSN = 1

// maxLoginRounds bounds the exchanges of one stage, so a target that never sets T
// cannot keep the login going forever.
const maxLoginRounds = 8

// Dial connects to addr and logs in. A Login Response with a non-zero status is
// returned as *LoginError; the connection is then closed.
func Dial(addr string, o Options) (*Session, error) {
	s, err := dialLogin(addr, o)
	if err != nil {
		return nil, err
	}
	go s.readLoop()
	return s, nil
}

// dialLogin connects and logs in, without starting the reader.
func dialLogin(addr string, o Options) (*Session, error) {
	o = o.withDefaults()
	if !o.Discovery && o.TargetName == "" {
		return nil, errors.New("initiator: TargetName is required for a normal session")
	}
	d := net.Dialer{Timeout: o.Timeout, Control: o.Control}
	if o.LocalAddr != "" {
		local := o.LocalAddr
		if _, _, err := net.SplitHostPort(local); err != nil {
			local = net.JoinHostPort(local, "0")
		}
		la, err := net.ResolveTCPAddr("tcp", local)
		if err != nil {
			return nil, fmt.Errorf("initiator: LocalAddr: %w", err)
		}
		d.LocalAddr = la
	}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &Session{
		Params:  defaultParams(o),
		Rejects: make(chan *RejectError, 16),
		Async:   make(chan AsyncEvent, 16),
		opts:    o,
		nc:      nc,
		rd:      iscsi.NewReader(nc, 256<<10),
		cmdSN:   max(o.CmdSN, firstCmdSN),
		winCh:   make(chan struct{}),
		nextITT: loginITT,
		tasks:   map[uint32]*inbox{},
		done:    make(chan struct{}),
	}
	if err := s.login(); err != nil {
		nc.Close()
		return nil, err
	}
	return s, nil
}

// login runs the login phase synchronously, before the reader starts, with the
// login limits (no digests, 8192-byte segments) for every response.
func (s *Session) login() error {
	o := s.opts
	deadline := time.Now().Add(o.Timeout)
	s.nc.SetDeadline(deadline)
	defer s.nc.SetDeadline(time.Time{})

	identity := []iscsi.KV{{Key: "InitiatorName", Value: o.InitiatorName}}
	if o.Discovery {
		identity = append(identity, iscsi.KV{Key: "SessionType", Value: login.SessionDiscovery})
	} else {
		identity = append(identity, iscsi.KV{Key: "SessionType", Value: login.SessionNormal},
			iscsi.KV{Key: "TargetName", Value: o.TargetName})
	}
	stage := iscsi.LoginStageOperational
	keys := append(append([]iscsi.KV{}, identity...), offer(o)...)
	var chap *chapClient
	if o.Security || o.Chap != nil {
		stage = iscsi.LoginStageSecurity
		method := "None"
		if o.Chap != nil {
			method = "CHAP"
			chap = &chapClient{c: o.Chap}
		}
		keys = append(append([]iscsi.KV{}, identity...), iscsi.KV{Key: "AuthMethod", Value: method})
	}
	for rounds := 0; ; rounds++ {
		if rounds >= maxLoginRounds*2 {
			return protoErr("login did not complete in %d exchanges", rounds)
		}
		next := iscsi.LoginStageFullFeature
		if stage == iscsi.LoginStageSecurity {
			next = iscsi.LoginStageOperational
		}
		resp, err := s.loginStep(stage, next, keys)
		if err != nil {
			return err
		}
		h := &resp.BHS
		if st := h.LoginStatus(); st != iscsi.LoginStatusSuccess {
			return &LoginError{Class: st.Class(), Detail: st.Detail()}
		}
		kvs, err := iscsi.ParseText(resp.Data)
		if err != nil {
			return protoErr("login response text: %v", err)
		}
		s.Params.apply(kvs)
		if csg := h.CSG(); csg != stage {
			return protoErr("login response CSG %d, request CSG %d", csg, stage)
		}
		if chap != nil && stage == iscsi.LoginStageSecurity {
			next, done, err := chap.next(kvs)
			if err != nil {
				return err
			}
			if !done {
				if h.Transit() {
					return fmt.Errorf("%w: it ended the security stage before CHAP was done", ErrChapTarget)
				}
				keys = next
				continue
			}
		}
		if !h.Transit() {
			keys = nil // target wants another round in this stage
			continue
		}
		s.ackStatSN(h.StatSN())
		s.expCmdSN, s.maxCmdSN = h.ExpCmdSN(), h.MaxCmdSN()
		switch nsg := h.NSG(); nsg {
		case iscsi.LoginStageOperational:
			stage = iscsi.LoginStageOperational
			keys = offer(o)
		case iscsi.LoginStageFullFeature:
			s.Params.TSIH = h.TSIH()
			return nil
		default:
			return protoErr("login response NSG %d", nsg)
		}
	}
}

// ReinstateConnection logs in a new connection to addr that reinstates this
// session's connection (RFC 7143 6.3.4): the session's ISID, TSIH and CID, its next
// CmdSN. The new Session continues the session: its CmdSNs follow this one's, and
// it keeps the session-wide parameters (Leading Only keys are not negotiated
// again). This Session is left as it is: its socket stays open until Close, as
// after a network cut the initiator has not noticed.
func (s *Session) ReinstateConnection(addr string) (*Session, error) {
	o := s.opts
	o.TSIH, o.CmdSN = s.Params.TSIH, s.CmdSN()
	n, err := dialLogin(addr, o)
	if err != nil {
		return nil, err
	}
	p := &n.Params
	p.ImmediateData, p.InitialR2T = s.Params.ImmediateData, s.Params.InitialR2T
	p.MaxBurstLength, p.FirstBurstLength = s.Params.MaxBurstLength, s.Params.FirstBurstLength
	p.MaxOutstandingR2T, p.TargetPortalGroupTag = s.Params.MaxOutstandingR2T, s.Params.TargetPortalGroupTag
	go n.readLoop()
	return n, nil
}

// loginStep sends one Login Request and reads its response.
func (s *Session) loginStep(csg, nsg uint8, keys []iscsi.KV) (*iscsi.PDU, error) {
	p := &iscsi.PDU{Data: iscsi.AppendText(nil, keys...)}
	h := &p.BHS
	h.SetOpcode(iscsi.OpLoginReq)
	h.SetImmediate(true)
	h.SetTransit(true)
	h.SetCSG(csg)
	h.SetNSG(nsg)
	h.SetISID(s.opts.ISID)
	h.SetTSIH(s.opts.TSIH) // 0: a new session (or a session reinstatement)
	h.SetITT(loginITT)
	h.SetCID(s.opts.CID)
	h.SetCmdSN(s.cmdSN)
	h.SetExpStatSN(s.expStatSN)
	if _, err := s.nc.Write(iscsi.MarshalPDU(p, false, false)); err != nil {
		return nil, fmt.Errorf("initiator: login write: %w", err)
	}
	resp := &iscsi.PDU{}
	if err := s.rd.Read(iscsi.LoginLimits, resp); err != nil {
		return nil, fmt.Errorf("initiator: login read: %w", err)
	}
	if op := resp.BHS.Opcode(); op != iscsi.OpLoginResp {
		return nil, protoErr("got %v during login", op)
	}
	if resp.BHS.ITT() != loginITT {
		return nil, protoErr("login response ITT %#x", resp.BHS.ITT())
	}
	s.expStatSN = resp.BHS.StatSN() + 1
	return resp, nil
}
