package login

import (
	"net/netip"

	"github.com/atgt/atgt/messages/iscsi"
)

// DiscoveryTarget is one target as SendTargets reports it.
type DiscoveryTarget struct {
	Name      string
	Addresses []string                        // "ip:port,tpgt"
	Allowed   func(initiatorName string) bool // nil = any initiator
	// AllowedFrom says whether the target may be used from a source address; nil =
	// any address (TargetInfo.AllowedFrom).
	AllowedFrom func(peer netip.Addr) bool
}

// SendTargets answers SendTargets=<value> (RFC 7143 appendix C) for the given
// initiator, connected from peer: "All" lists every target in a discovery session, a
// target name lists that target, and an empty value lists the session's own target.
// Only targets the initiator may log in to from peer are listed, so discovery reveals
// nothing an initiator cannot log in to. "All" outside a discovery session is answered
// Reject.
func SendTargets(value, initiatorName, sessionTarget string, discovery bool, peer netip.Addr, targets []DiscoveryTarget) []iscsi.KV {
	var want string
	switch {
	case value == "All":
		if !discovery {
			return []iscsi.KV{{Key: "SendTargets", Value: valReject}}
		}
	case value == "":
		if sessionTarget == "" {
			return nil
		}
		want = sessionTarget
	default:
		want = value
	}
	var out []iscsi.KV
	for _, t := range targets {
		if want != "" && t.Name != want {
			continue
		}
		if t.Name == "" || (t.Allowed != nil && !t.Allowed(initiatorName)) ||
			(t.AllowedFrom != nil && !t.AllowedFrom(peer)) {
			continue
		}
		out = append(out, iscsi.KV{Key: keyTargetName, Value: t.Name})
		for _, a := range t.Addresses {
			out = append(out, iscsi.KV{Key: "TargetAddress", Value: a})
		}
	}
	return out
}

// PortalAddress writes a portal's "host:port" as TargetAddress carries it (RFC 7143
// 13.8: a domain name, an IPv4 address, or an IPv6 literal in brackets). An IPv6
// zone ("%eth0") is dropped: it names an interface of the target's host, which
// means nothing to the initiator, and the RFC 3986 literal has no place for it. A
// string that is not an IP address and port stays as it is.
func PortalAddress(hostPort string) string {
	ap, err := netip.ParseAddrPort(hostPort)
	if err != nil {
		return hostPort
	}
	return netip.AddrPortFrom(ap.Addr().WithZone(""), ap.Port()).String()
}
