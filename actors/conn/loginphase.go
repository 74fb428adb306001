package conn

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/atgt/atgt/actors/login"
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
			resp := &login.Response{StatusClass: 2, StatusDetail: 0x0b}
			c.send(loginResponsePDU(resp, c.nextStatSN(), 0, 0))
			c.sendAndClose()
			c.steps <- readerStep{stop: true}
			return
		}
		c.handleLogin(ctx, m.p)
		if !c.loggedIn && c.cfg.LoginTimeout > 0 {
			// protoactor restarts the receive timeout after every message: arm it
			// with what is left, so that the limit counts from accept, not from the
			// last Login Request.
			ctx.SetReceiveTimeout(max(time.Until(c.loginDeadline), time.Millisecond))
		}
	case *dataDigestFailed:
		c.finish(ctx, "data digest error during login")
	case *actor.ReceiveTimeout:
		c.log.Info("login timeout; closing connection", "remote", c.cfg.Conn.RemoteAddr().String(),
			"timeout", c.cfg.LoginTimeout)
		c.finish(ctx, "login timeout")
	}
}

func (c *connActor) handleLogin(ctx actor.Context, p *iscsi.PDU) {
	h := &p.BHS
	req := &login.Request{
		Transit:    h.Flags()&0x80 != 0,
		Continue:   h.Flags()&0x40 != 0,
		CSG:        (h.Flags() >> 2) & 3,
		NSG:        h.Flags() & 3,
		VersionMax: h[2],
		VersionMin: h[3],
		TSIH:       h.Field16(14),
		ITT:        h.ITT(),
		CID:        h.Field16(20),
		CmdSN:      h.CmdSN(),
		ExpStatSN:  h.ExpStatSN(),
		Data:       p.Data,
	}
	copy(req.ISID[:], h[8:14])
	resp, done := c.lm.Step(req)
	if done && req.TSIH != 0 {
		// Adding a connection to an existing session needs MaxConnections > 1, which
		// this target does not offer.
		resp = &login.Response{ISID: req.ISID, ITT: req.ITT, StatusClass: 2, StatusDetail: 0x0a,
			CSG: req.CSG, NSG: req.NSG}
		done = false
	}
	if resp.StatusClass != 0 {
		c.log.Info("login rejected", "class", resp.StatusClass, "detail", resp.StatusDetail,
			"remote", c.cfg.Conn.RemoteAddr().String())
		c.sendAndClose(loginResponsePDU(resp, c.nextStatSN(), req.CmdSN, c.cfg.QueueDepth))
		c.steps <- readerStep{stop: true}
		return
	}
	if !done {
		c.send(loginResponsePDU(resp, c.nextStatSN(), req.CmdSN, c.cfg.QueueDepth))
		c.steps <- readerStep{lim: iscsi.LoginLimits}
		return
	}
	c.result = c.lm.Result()
	c.params = c.result.Params
	resp.TSIH = c.cfg.TSIH
	c.lastMax = req.CmdSN + c.cfg.QueueDepth - 1
	c.cfg.Window.Start(req.CmdSN)
	ctx.Send(ctx.Parent(), &LoginComplete{Result: c.result, FirstCmdSN: req.CmdSN})
	// The final Login Response goes without digests; everything after it uses them.
	c.send(loginResponsePDU(resp, c.nextStatSN(), req.CmdSN, c.cfg.QueueDepth))
	c.hd, c.dd = c.params.HeaderDigest, c.params.DataDigest
	c.loggedIn = true
	c.steps <- readerStep{ffp: true, lim: iscsi.Limits{
		MaxRecvDataSegmentLength: c.params.MaxXmitDataSegmentLength,
		HeaderDigest:             c.hd,
		DataDigest:               c.dd,
	}}
	c.log.Info("login", "initiator", c.result.InitiatorName, "target", c.result.Target.Name,
		"type", c.result.SessionType, "tsih", c.cfg.TSIH, "remote", c.cfg.Conn.RemoteAddr().String())
	c.log.Debug("negotiated", "header_digest", c.hd, "data_digest", c.dd,
		"max_recv_seg", c.params.MaxXmitDataSegmentLength, "max_send_seg", c.params.MaxRecvDataSegmentLength,
		"max_burst", c.params.MaxBurstLength, "first_burst", c.params.FirstBurstLength,
		"immediate_data", c.params.ImmediateData, "initial_r2t", c.params.InitialR2T,
		"max_outstanding_r2t", c.params.MaxOutstandingR2T)
	c.behavior.Become(c.fullFeature)
	if c.cfg.NopInterval > 0 {
		ctx.SetReceiveTimeout(c.cfg.NopInterval) // replaces the login timeout
	} else {
		ctx.CancelReceiveTimeout()
	}
}

// loginResponsePDU encodes a Login Response (RFC 7143 11.13).
func loginResponsePDU(r *login.Response, statSN, expCmdSN, depth uint32) *iscsi.PDU {
	p := &iscsi.PDU{}
	h := &p.BHS
	h.SetOpcode(iscsi.OpLoginResp)
	var f uint8
	if r.Transit {
		f |= 0x80
	}
	if r.Continue {
		f |= 0x40
	}
	f |= (r.CSG & 3) << 2
	if r.Transit {
		f |= r.NSG & 3
	}
	h.SetFlags(f)
	h[2] = r.VersionMax
	h[3] = r.VersionActive
	copy(h[8:14], r.ISID[:])
	h.SetField16(14, r.TSIH)
	h.SetITT(r.ITT)
	h.SetStatSN(statSN)
	h.SetExpCmdSN(expCmdSN)
	h.SetMaxCmdSN(expCmdSN + depth - 1)
	h[36] = r.StatusClass
	h[37] = r.StatusDetail
	p.Data = r.Data
	return p
}
