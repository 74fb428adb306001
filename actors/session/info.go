package session

import (
	"strconv"
	"time"

	"github.com/atgt/atgt/actors/conn"
	"github.com/atgt/atgt/actors/login"
	"github.com/atgt/atgt/messages/iscsi"
)

// Info describes a logged-in session for the admin API: fixed at login, except the
// connection's Stats, which it keeps up to date, and the initiator's
// MaxRecvDataSegmentLength, which it may declare again after login and whose value
// in force lives in Stats (Params holds the login's, which Keys does not show).
type Info struct {
	TSIH      uint16
	Initiator string
	// Target is the target's name; Route what its tasks carry as their target.
	Target, Route string
	ISID          [6]byte
	// Remote is the initiator's address, Local the portal's.
	Remote, Local string
	Discovery     bool
	Params        login.Params
	// Auth is what the security stage agreed (login.Result.Auth).
	Auth  []iscsi.KV
	Since time.Time
	Stats *conn.Stats
}

// info makes the session's Info at the end of its login.
func (s *sessionActor) info(r login.Result) *Info {
	in := &Info{TSIH: s.cfg.TSIH, Initiator: r.InitiatorName, Target: r.Target.Name, Route: r.Route, ISID: r.ISID,
		Discovery: r.SessionType == "Discovery", Params: r.Params, Auth: r.Auth, Since: time.Now(), Stats: s.stats}
	if c := s.cfg.Conn; c != nil {
		in.Remote, in.Local = c.RemoteAddr().String(), c.LocalAddr().String()
	}
	return in
}

// maxRecvDataSegmentLength is the initiator's MaxRecvDataSegmentLength in force.
func (in *Info) maxRecvDataSegmentLength() uint32 {
	if in.Stats != nil {
		if v := in.Stats.SendSegment.Load(); v != 0 {
			return v
		}
	}
	return in.Params.MaxRecvDataSegmentLength
}

// Keys returns the operational keys in force as they went on the wire (RFC 7143
// section 13): those of the login, and the MaxRecvDataSegmentLength the initiator
// declared last.
func (in *Info) Keys() map[string]string {
	p := in.Params
	yn := func(b bool) string {
		if b {
			return "Yes"
		}
		return "No"
	}
	digest := func(b bool) string {
		if b {
			return "CRC32C"
		}
		return "None"
	}
	u := func(v uint32) string { return strconv.FormatUint(uint64(v), 10) }
	keys := map[string]string{
		"HeaderDigest":             digest(p.HeaderDigest),
		"DataDigest":               digest(p.DataDigest),
		"MaxConnections":           u(p.MaxConnections),
		"InitialR2T":               yn(p.InitialR2T),
		"ImmediateData":            yn(p.ImmediateData),
		"MaxRecvDataSegmentLength": u(in.maxRecvDataSegmentLength()),
		"MaxXmitDataSegmentLength": u(p.MaxXmitDataSegmentLength),
		"MaxBurstLength":           u(p.MaxBurstLength),
		"FirstBurstLength":         u(p.FirstBurstLength),
		"DefaultTime2Wait":         u(p.DefaultTime2Wait),
		"DefaultTime2Retain":       u(p.DefaultTime2Retain),
		"MaxOutstandingR2T":        u(p.MaxOutstandingR2T),
		"DataPDUInOrder":           yn(p.DataPDUInOrder),
		"DataSequenceInOrder":      yn(p.DataSequenceInOrder),
		"ErrorRecoveryLevel":       u(p.ErrorRecoveryLevel),
	}
	for _, kv := range in.Auth { // AuthMethod, CHAP_A, Mutual
		keys[kv.Key] = kv.Value
	}
	return keys
}
