package login

import "net/netip"

// TargetInfo is what login needs to know of a configured target: its names for the
// first response, who may log in to it and from where, and how its tasks are routed.
type TargetInfo struct {
	Name, Alias    string
	PortalGroupTag uint16
	Allowed        func(initiatorName string) bool // nil = any initiator
	// Credentialed, when set, admits only the initiators that have a CHAP
	// credential of their own for the target, which has none for the others
	// (refused with AuthorizationFailure, as Allowed refuses).
	Credentialed func(initiatorName string) bool
	// AllowedFrom says whether a login may come from a source address; nil = any
	// address. An invalid address (the connection's peer was not an IP) is asked too.
	AllowedFrom func(peer netip.Addr) bool
	// Route returns the name the initiator's tasks carry as their target for routing
	// to its logical units (Result.Route); nil = Name. A target that gives some
	// initiators their own logical units routes their tasks by another name.
	Route func(initiatorName string) string
}

// Limits are the target's own offers and limits (from config): the values the target
// answers with when a negotiation function (min, max, AND, OR) combines both sides.
type Limits struct {
	MaxRecvDataSegmentLength uint32   // what the target can receive, declared to the initiator
	MaxBurstLength           uint32   // target maximum
	FirstBurstLength         uint32   // target maximum
	MaxOutstandingR2T        uint32   // target maximum
	MaxConnections           uint32   // target maximum
	HeaderDigest, DataDigest []string // accepted digests ("None", "CRC32C")
	ImmediateData            bool     // target's preference (AND)
	InitialR2T               bool     // target's preference (OR)
	ErrorRecoveryLevel       uint32   // target maximum (min function)
	DefaultTime2Wait         uint32   // target's value (max function)
	DefaultTime2Retain       uint32   // target maximum (min function)
}

// DefaultLimits is a target that takes large bursts, prefers immediate data without an
// initial R2T, accepts both digests and does error recovery level 0 on one connection.
func DefaultLimits() Limits {
	return Limits{
		MaxRecvDataSegmentLength: 262144,
		MaxBurstLength:           1048576,
		FirstBurstLength:         262144,
		MaxOutstandingR2T:        16,
		MaxConnections:           1,
		HeaderDigest:             []string{"None", "CRC32C"},
		DataDigest:               []string{"None", "CRC32C"},
		ImmediateData:            true,
		InitialR2T:               false,
		ErrorRecoveryLevel:       0,
		DefaultTime2Wait:         2,
		DefaultTime2Retain:       20,
	}
}

// normalized replaces fields whose zero value is illegal with the default and clamps
// numbers to the RFC ranges, so a partly filled Limits never yields an illegal answer.
func (l Limits) normalized() Limits {
	d := DefaultLimits()
	if l.MaxRecvDataSegmentLength == 0 {
		l.MaxRecvDataSegmentLength = d.MaxRecvDataSegmentLength
	}
	if l.MaxBurstLength == 0 {
		l.MaxBurstLength = d.MaxBurstLength
	}
	if l.FirstBurstLength == 0 {
		l.FirstBurstLength = d.FirstBurstLength
	}
	if l.MaxOutstandingR2T == 0 {
		l.MaxOutstandingR2T = d.MaxOutstandingR2T
	}
	if l.MaxConnections == 0 {
		l.MaxConnections = d.MaxConnections
	}
	if l.HeaderDigest == nil {
		l.HeaderDigest = d.HeaderDigest
	}
	if l.DataDigest == nil {
		l.DataDigest = d.DataDigest
	}
	l.MaxRecvDataSegmentLength = clamp(l.MaxRecvDataSegmentLength, 512, 16777215)
	l.MaxBurstLength = clamp(l.MaxBurstLength, 512, 16777215)
	l.FirstBurstLength = clamp(l.FirstBurstLength, 512, 16777215)
	l.MaxOutstandingR2T = clamp(l.MaxOutstandingR2T, 1, 65535)
	l.MaxConnections = clamp(l.MaxConnections, 1, 65535)
	l.ErrorRecoveryLevel = clamp(l.ErrorRecoveryLevel, 0, 2)
	l.DefaultTime2Wait = clamp(l.DefaultTime2Wait, 0, 3600)
	l.DefaultTime2Retain = clamp(l.DefaultTime2Retain, 0, 3600)
	return l
}

func clamp(v, lo, hi uint32) uint32 {
	return min(max(v, lo), hi)
}

// Config is everything one connection's login needs from the target.
type Config struct {
	Lookup func(targetName string) (TargetInfo, bool)
	Limits Limits
	Auth   Authenticator // nil => AuthMethod None
	// Peer is the initiator's source address, as the connection saw it (the machine
	// touches no socket), for TargetInfo.AllowedFrom; the zero Addr if unknown.
	Peer netip.Addr
}
