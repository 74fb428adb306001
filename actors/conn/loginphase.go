package conn

import (
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/atgt/atgt/actors/cmdphase"
	"github.com/atgt/atgt/actors/limit"
	"github.com/atgt/atgt/actors/login"
	"github.com/atgt/atgt/actors/metrics"
	"github.com/atgt/atgt/messages/iscsi"
)

// loginPhase is the behaviour until the final Login Response: only Login Requests are
// valid; anything else ends the connection with "invalid during login".
func (c *connActor) loginPhase(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *pduIn:
		if c.log.IsDebug() {
			c.log.Debug("pdu in", "pdu", m.p.String())
		}
		if m.p.BHS.Opcode() != iscsi.OpLoginReq {
			c.loginFailed(metrics.LoginNegotiationFailure)
			st := login.InvalidDuringLogin
			resp := &login.Response{StatusClass: st.Class(), StatusDetail: st.Detail()}
			c.sendNow(outBatch{pdus: []*iscsi.PDU{loginResponsePDU(resp, c.nextStatSN(), 0, 0)}, closeNow: true})
			c.steps <- readerStep{stop: true}
			c.finish(ctx, "invalid during login")
			return
		}
		c.handleLogin(ctx, m.p)
		if c.m == nil && c.cfg.LoginTimeout > 0 {
			// The silence timer counts from the last message: set it to what is
			// left, so that the limit counts from accept, not from the last Login
			// Request.
			c.setSilence(ctx, max(time.Until(c.loginDeadline), time.Millisecond))
		}
	case *Admit:
		c.admit(ctx, m)
	case *delayedLoginFailure:
		// The writer sends the response, then closes the socket; the connection and
		// its session end now rather than at the login timeout.
		c.sendNow(outBatch{pdus: []*iscsi.PDU{m.pdu}, closeNow: true})
		c.finish(ctx, "authentication failed")
	case *dataDigestFailed:
		c.cfg.Metrics.DigestError(false)
		c.loginFailed(metrics.LoginNegotiationFailure)
		c.finish(ctx, "data digest error during login")
	case *silenceCheck:
		if !c.silent(ctx, m) {
			return
		}
		c.log.Info("login timeout; closing connection", "remote", c.cfg.Conn.RemoteAddr().String(),
			"timeout", c.cfg.LoginTimeout)
		c.loginFailed(metrics.LoginTimeout)
		c.finish(ctx, "login timeout")
	}
}

func (c *connActor) handleLogin(ctx actor.Context, p *iscsi.PDU) {
	h := &p.BHS
	req := &login.Request{
		Transit:    h.Transit(),
		Continue:   h.Continue(),
		CSG:        h.CSG(),
		NSG:        h.NSG(),
		VersionMax: h.VersionMax(),
		VersionMin: h.VersionMin(),
		ISID:       h.ISID(),
		TSIH:       h.TSIH(),
		ITT:        h.ITT(),
		CID:        h.CID(),
		CmdSN:      h.CmdSN(),
		ExpStatSN:  h.ExpStatSN(),
		Data:       p.Data,
	}
	if c.lm == nil {
		// Made with the first Login Request, not at accept: a connection that
		// stalls inside its first PDU never needs one.
		lc := c.cfg.Login
		lc.Peer = peerAddr(c.cfg.Conn.RemoteAddr())
		c.lm = login.NewMachine(lc)
	}
	resp, done := c.lm.Step(req)
	if resp.Status() == login.AuthFailure {
		// A failed authentication is answered after a fixed delay, so that guessing
		// secrets costs time; the reader stops now, as the login is over.
		c.loginFailed(metrics.LoginAuthenticationFailure)
		c.logRefused(resp.Status(), "delay", authFailureDelay)
		pdu := loginResponsePDU(resp, c.nextStatSN(), req.CmdSN, c.cfg.QueueDepth)
		c.steps <- readerStep{stop: true}
		root, self := ctx.ActorSystem().Root, ctx.Self()
		time.AfterFunc(authFailureDelay, func() { root.Send(self, &delayedLoginFailure{pdu: pdu}) })
		return
	}
	if resp.StatusClass != 0 {
		c.loginFailed(loginResult(resp.Status()))
		c.logRefused(resp.Status())
		c.sendNow(outBatch{pdus: []*iscsi.PDU{loginResponsePDU(resp, c.nextStatSN(), req.CmdSN, c.cfg.QueueDepth)}, closeNow: true})
		c.steps <- readerStep{stop: true}
		// The writer sends the response and closes the socket; the connection and
		// its session end now rather than at the login timeout, so that a refused
		// login (an access list's answer) holds nothing.
		c.finish(ctx, "login rejected")
		return
	}
	if !done {
		c.sendNow(outBatch{pdus: []*iscsi.PDU{loginResponsePDU(resp, c.nextStatSN(), req.CmdSN, c.cfg.QueueDepth)}})
		c.steps <- readerStep{lim: iscsi.LoginLimits}
		return
	}
	// The final Login Response waits for the session manager to admit the session
	// (see Admit): a TARGET COLD RESET that ran while this connection logged in
	// refuses it, and a login the manager has admitted is one every later reset
	// sees. A login naming a TSIH (a connection reinstatement) waits until the
	// connection it replaces has ended.
	c.admitting = &admission{resp: resp, cmdSN: req.CmdSN, result: c.lm.Result()}
	ctx.Send(ctx.Parent(), &LoginComplete{Result: c.admitting.result, FirstCmdSN: req.CmdSN})
}

// admission is a login that is complete but for the session manager's word.
type admission struct {
	resp   *login.Response
	cmdSN  uint32
	result login.Result
}

// admit ends the login when the session manager has answered: the final Login
// Response and the full feature phase, or, refused, a Login Response with status
// Service Unavailable (0301: the initiator may log in again) and the end.
func (c *connActor) admit(ctx actor.Context, m *Admit) {
	a := c.admitting
	if a == nil || c.closed {
		return // ended meanwhile (an End, the login timeout)
	}
	c.admitting = nil
	if m.Refused != "" {
		st := m.Status
		if st == login.StatusSuccess {
			st = login.ServiceUnavailable
		}
		c.loginFailed(loginResult(st))
		c.log.Info("login refused", "reason", m.Refused, "initiator", a.result.InitiatorName,
			"remote", c.cfg.Conn.RemoteAddr().String(), "status", fmt.Sprintf("%04x", uint16(st)))
		resp := *a.resp
		resp.Transit, resp.NSG, resp.Data = false, 0, nil
		resp.StatusClass, resp.StatusDetail = st.Class(), st.Detail()
		c.sendNow(outBatch{pdus: []*iscsi.PDU{loginResponsePDU(&resp, c.nextStatSN(), a.cmdSN, c.cfg.QueueDepth)}, closeNow: true})
		c.steps <- readerStep{stop: true}
		c.finish(ctx, "login refused: "+m.Refused)
		return
	}
	if k := m.Continue; k != nil {
		// A reinstated connection (RFC 7143 6.3.4): the session's TSIH, window and
		// session-wide parameters; only the connection's own keys are this login's.
		c.cfg.TSIH = k.TSIH
		a.cmdSN = k.ExpCmdSN
		a.result.Params = login.Continued(a.result.Params, k.Params)
		a.result.TSIH = k.TSIH
	}
	c.fullFeaturePhase(ctx, a)
}

// fullFeaturePhase sends the final Login Response of an admitted login and starts
// the command phase.
func (c *connActor) fullFeaturePhase(ctx actor.Context, a *admission) {
	resp, result := a.resp, a.result
	params := result.Params
	resp.TSIH = c.cfg.TSIH
	c.countLogin(result)
	// The final Login Response goes without digests; everything after it uses them.
	c.sendNow(outBatch{pdus: []*iscsi.PDU{loginResponsePDU(resp, c.nextStatSN(), a.cmdSN, c.cfg.QueueDepth)}})
	c.hd, c.dd = params.HeaderDigest, params.DataDigest
	var sendSeg *atomic.Uint32
	if c.cfg.Stats != nil {
		sendSeg = &c.cfg.Stats.SendSegment
	}
	c.m = cmdphase.New(cmdphase.Config{
		Login:            result,
		LocalAddr:        c.cfg.Conn.LocalAddr().String(),
		Discovery:        c.discovery(),
		Self:             c.self,
		QueueDepth:       c.cfg.QueueDepth,
		NopInterval:      c.cfg.NopInterval,
		NopTimeout:       c.cfg.NopTimeout,
		MaxTaskBytes:     c.cfg.MaxTaskBytes,
		MaxBufferedBytes: c.cfg.MaxBufferedBytes,
		WriteBudget:      c.cfg.WriteBudget,
		DataOutTimeout:   c.cfg.DataOutTimeout,
		Metrics:          c.cfg.Metrics,
		MayResetTarget:   c.cfg.MayResetTarget,
		MayWarn:          c.cfg.MayWarn,
		Log:              c.log,
		SendSegment:      sendSeg,
	}, c.statSN, a.cmdSN)
	c.traceLogin(result)
	c.steps <- readerStep{ffp: true, lim: iscsi.Limits{
		MaxRecvDataSegmentLength: params.MaxXmitDataSegmentLength,
		HeaderDigest:             c.hd,
		DataDigest:               c.dd,
	}}
	c.initiator = result.InitiatorName
	c.log.Info("login", "initiator", result.InitiatorName, "target", result.Target.Name,
		"type", result.SessionType, "tsih", c.cfg.TSIH, "remote", c.cfg.Conn.RemoteAddr().String(),
		"auth", authText(result.Auth))
	c.log.Debug("negotiated", "header_digest", c.hd, "data_digest", c.dd,
		"max_recv_seg", params.MaxXmitDataSegmentLength, "max_send_seg", params.MaxRecvDataSegmentLength,
		"max_burst", params.MaxBurstLength, "first_burst", params.FirstBurstLength,
		"immediate_data", params.ImmediateData, "initial_r2t", params.InitialR2T,
		"max_outstanding_r2t", params.MaxOutstandingR2T)
	c.behavior.Become(c.fullFeature)
	if c.cfg.NopInterval > 0 {
		c.setSilence(ctx, c.cfg.NopInterval) // replaces the login timeout
	} else {
		c.setSilence(ctx, 0)
	}
}

// AuthFailureDelay is how long a login that failed authentication waits for its
// answer (status 0201), so that an initiator guessing secrets gets about one guess a
// second per connection.
const AuthFailureDelay = time.Second

// authFailureDelay is AuthFailureDelay, shortened by tests.
var authFailureDelay = AuthFailureDelay

// delayedLoginFailure is the Login Response of a failed authentication, due once
// authFailureDelay has passed.
type delayedLoginFailure struct{ pdu *iscsi.PDU }

// loginResponsePDU encodes a Login Response (RFC 7143 11.13).
func loginResponsePDU(r *login.Response, statSN, expCmdSN, depth uint32) *iscsi.PDU {
	p := &iscsi.PDU{}
	h := &p.BHS
	h.SetOpcode(iscsi.OpLoginResp)
	h.SetTransit(r.Transit)
	h.SetContinue(r.Continue)
	h.SetCSG(r.CSG)
	if r.Transit {
		h.SetNSG(r.NSG)
	}
	h.SetVersionMax(r.VersionMax)
	h.SetVersionActive(r.VersionActive)
	h.SetISID(r.ISID)
	h.SetTSIH(r.TSIH)
	h.SetITT(r.ITT)
	h.SetStatSN(statSN)
	h.SetExpCmdSN(expCmdSN)
	h.SetMaxCmdSN(expCmdSN + depth - 1)
	h.SetLoginStatus(iscsi.LoginStatus(uint16(r.StatusClass)<<8 | uint16(r.StatusDetail)))
	p.Data = r.Data
	return p
}

// nextStatSN returns the StatSN for a login-phase response and advances it.
func (c *connActor) nextStatSN() uint32 {
	s := c.statSN
	c.statSN++
	return s
}

// discovery lists the targets SendTargets may name now.
func (c *connActor) discovery() []login.DiscoveryTarget {
	if c.cfg.Discovery == nil {
		return nil
	}
	return c.cfg.Discovery()
}

// authText is the security stage's agreement for the log, e.g. "AuthMethod=CHAP
// CHAP_A=8 Mutual=Yes" ("none" when the initiator skipped the stage).
func authText(kv []iscsi.KV) string {
	if len(kv) == 0 {
		return "none"
	}
	parts := make([]string, len(kv))
	for i, k := range kv {
		parts[i] = k.Key + "=" + k.Value
	}
	return strings.Join(parts, " ")
}

// logRefused logs a refused login in one line naming the initiator, the target it
// asked for, the portal, the source address and why (never a secret): at warn, so
// that "my host cannot log in" leaves a trace at the default log level, at most one
// line a second for each status (Config.MayWarn; the lines held back are counted in the next, and
// logged at info).
func (c *connActor) logRefused(st login.Status, extra ...any) {
	res := c.lm.Result()
	target, reason := c.lm.Refusal(st)
	if res.SessionType == login.SessionDiscovery {
		target = "(discovery)"
	}
	args := append([]any{"initiator", res.InitiatorName, "target", target, "portal", c.cfg.Conn.LocalAddr().String(),
		"remote", c.cfg.Conn.RemoteAddr().String(), "reason", reason}, extra...)
	// Per status: a few kinds.
	limit.LogRefusal(c.log, c.cfg.MayWarn, fmt.Sprintf("login refused %04x", uint16(st)), "login refused", args...)
}
