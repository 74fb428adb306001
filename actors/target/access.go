package target

import (
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/hashicorp/go-hclog"

	"github.com/atgt/atgt/actors/dispatcher"
	pb "github.com/atgt/atgt/messages/atgtv1"
)

// Access control: who may log in to a target (allowed_initiators), from where
// (allowed_networks), which logical units each initiator sees (initiator_luns), and
// the rule that a target without authentication or an access list is served on a
// non-loopback portal only when its config says allow_unauthenticated.

// parseNetwork parses one allowed_networks entry: a CIDR ("192.0.2.0/24") or a
// single address ("127.0.0.2"), without a zone. IPv4-mapped IPv6 forms are taken as
// IPv4, as peer addresses are.
func parseNetwork(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		if p.Addr().Is4In6() {
			if p.Bits() < 96 {
				return netip.Prefix{}, fmt.Errorf("%q is an IPv4-mapped prefix shorter than /96", s)
			}
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not a CIDR (\"192.0.2.0/24\") or an IP address", s)
	}
	if a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("%q has a zone", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// allowFrom returns the source address check of a validated target's
// allowed_networks; nil admits every address. An invalid address (unknown peer) is
// refused.
func allowFrom(networks []string) func(netip.Addr) bool {
	if len(networks) == 0 {
		return nil
	}
	prefixes := make([]netip.Prefix, 0, len(networks))
	for _, n := range networks {
		if p, err := parseNetwork(n); err == nil {
			prefixes = append(prefixes, p)
		}
	}
	return func(a netip.Addr) bool {
		a = a.Unmap()
		for _, p := range prefixes {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
}

// initiatorAllowList returns the initiator check of a validated target; nil admits
// everyone. A target with no shared LUNs admits only the initiators that have their
// own (validation made them a subset of allowed_initiators, if that is set).
func initiatorAllowList(t *pb.Target) func(string) bool {
	if len(t.Luns) == 0 && len(t.InitiatorLuns) > 0 {
		names := make([]string, 0, len(t.InitiatorLuns))
		for _, il := range t.InitiatorLuns {
			names = append(names, il.Initiator)
		}
		return allowList(names)
	}
	return allowList(t.AllowedInitiators)
}

// credentialedOnly returns, for a target whose initiators log in only with a CHAP
// credential of their own (initiator_chap without the target's chap), the check that
// admits them; nil for any other target.
func credentialedOnly(t *pb.Target) func(string) bool {
	if t.Chap != nil || len(t.InitiatorChap) == 0 {
		return nil
	}
	names := make([]string, 0, len(t.InitiatorChap))
	for _, ic := range t.InitiatorChap {
		names = append(names, ic.Initiator)
	}
	return allowList(names)
}

// both admits a name that a and b admit (a nil check admits every name).
func both(a, b func(string) bool) func(string) bool {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	return func(n string) bool { return a(n) && b(n) }
}

// initiatorRoute returns how a target routes an initiator's tasks: by
// dispatcher.RouteName for an initiator with its own LUNs, else by the target's
// name; nil if no initiator has its own.
func initiatorRoute(t *pb.Target) func(string) string {
	if len(t.InitiatorLuns) == 0 {
		return nil
	}
	name := t.Name
	own := make(map[string]string, len(t.InitiatorLuns))
	for _, il := range t.InitiatorLuns {
		own[il.Initiator] = dispatcher.RouteName(name, il.Initiator)
	}
	return func(initiator string) string {
		if r, ok := own[initiator]; ok {
			return r
		}
		return name
	}
}

// lunSet is the LUNs one route serves: a target's shared LUNs (initiator "") or one
// initiator's own.
type lunSet struct {
	initiator string
	route     string // dispatcher.Key.Target of its LUNs
	luns      []*pb.Lun
	field     string // "targets[0]" or "targets[0].initiatorLuns[1]", for errors
}

// lunSets lists a target's sets of LUNs: the shared ones, if any, then each
// initiator's own.
func lunSets(ti int, t *pb.Target) []lunSet {
	var sets []lunSet
	tf := fmt.Sprintf("targets[%d]", ti)
	if len(t.Luns) > 0 {
		sets = append(sets, lunSet{route: t.Name, luns: t.Luns, field: tf})
	}
	for ii, il := range t.InitiatorLuns {
		sets = append(sets, lunSet{initiator: il.Initiator, route: dispatcher.RouteName(t.Name, il.Initiator),
			luns: il.Luns, field: fmt.Sprintf("%s.initiatorLuns[%d]", tf, ii)})
	}
	return sets
}

// badInitiatorLuns checks a target's initiator_luns (tf names the target) and returns
// the bad field and why, or "". paths holds the backing files of the config's LUNs
// checked so far, by field.
func badInitiatorLuns(t *pb.Target, paths map[string]string, tf string) (field, msg string) {
	allowed := map[string]bool{}
	for _, a := range t.AllowedInitiators {
		allowed[a] = true
	}
	seen := map[string]string{}
	for ii, il := range t.InitiatorLuns {
		f := fmt.Sprintf("%s.initiatorLuns[%d]", tf, ii)
		if err := validName(il.Initiator); err != nil {
			return f + ".initiator", err.Error()
		}
		if other, dup := seen[il.Initiator]; dup {
			return f + ".initiator", fmt.Sprintf("%q is also listed in %s", il.Initiator, other)
		}
		seen[il.Initiator] = f
		if len(t.AllowedInitiators) > 0 && !allowed[il.Initiator] {
			return f + ".initiator", fmt.Sprintf("%q is not in allowedInitiators, so it could never log in", il.Initiator)
		}
		if len(il.Luns) == 0 {
			return f + ".luns", "at least one LUN is required"
		}
		ids := map[uint64]bool{}
		for li, l := range il.Luns {
			if field, msg := badLUN(l, ids, paths, fmt.Sprintf("%s.luns[%d]", f, li)); field != "" {
				return field, msg
			}
		}
	}
	return "", ""
}

// hasAuth reports whether a target limits who may log in, so that serving it on a
// non-loopback portal needs no allow_unauthenticated: CHAP (chap, or initiator_chap,
// without which no initiator outside it may log in) or an access list (hasACL).
func hasAuth(t *pb.Target) bool { return t.Chap != nil || len(t.InitiatorChap) > 0 || hasACL(t) }

// hasACL reports whether a target has an access list: allowed_initiators,
// allowed_networks, or initiator_luns without shared LUNs (then only the listed
// initiators may log in). initiator_luns beside shared LUNs limit nobody: any other
// initiator logs in to the shared ones; nor does an allowed_networks with a /0
// (0.0.0.0/0, ::/0), which admits every address.
func hasACL(t *pb.Target) bool {
	return len(t.AllowedInitiators) > 0 || (len(t.AllowedNetworks) > 0 && !admitsEveryAddress(t.AllowedNetworks)) ||
		(len(t.InitiatorLuns) > 0 && len(t.Luns) == 0)
}

// admitsEveryAddress reports a list of networks with a /0 in it.
func admitsEveryAddress(nets []string) bool {
	for _, n := range nets {
		if p, err := netip.ParsePrefix(n); err == nil && p.Bits() == 0 {
			return true
		}
	}
	return false
}

// loopbackPortal reports whether a portal ("IP:PORT") listens on a loopback address
// only: 127.0.0.0/8, ::1 (or IPv4-mapped loopback), or "localhost". An empty host, a
// wildcard (0.0.0.0, ::) or anything unparsable is not loopback.
func loopbackPortal(portal string) bool {
	host, _, err := net.SplitHostPort(portal)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}

// exposure is a target served without authentication on non-loopback portals.
type exposure struct {
	target  int      // index in cfg.Targets
	portals []string // its non-loopback portals
	allowed bool     // allow_unauthenticated is set
}

// exposures lists the targets of a defaulted config that have no authentication
// (hasAuth) but are served on a non-loopback portal. Every target is served on every
// portal.
func exposures(cfg *pb.Config) []exposure {
	var open []string
	for _, p := range cfg.Portals {
		if !loopbackPortal(p) {
			open = append(open, p)
		}
	}
	if len(open) == 0 {
		return nil
	}
	var out []exposure
	for ti, t := range cfg.Targets {
		if !hasAuth(t) {
			out = append(out, exposure{target: ti, portals: open, allowed: t.AllowUnauthenticated})
		}
	}
	return out
}

// badExposure returns the field and reason of the first target that is served on a
// non-loopback portal without authentication and without allow_unauthenticated, or "".
func badExposure(cfg *pb.Config) (field, msg string) {
	for _, e := range exposures(cfg) {
		if !e.allowed {
			return fmt.Sprintf("targets[%d].allowUnauthenticated", e.target),
				fmt.Sprintf("target %s would be served on the non-loopback portal %s without authentication or an access list "+
					"(chap, allowedInitiators, allowedNetworks without a /0, initiatorLuns without shared luns); "+
					"add one, or set \"allowUnauthenticated\": true to serve it anyway",
					cfg.Targets[e.target].Name, strings.Join(e.portals, ", "))
		}
	}
	return "", ""
}

// warnExposures logs a warning for every target of a defaulted config served on a
// non-loopback portal without authentication: allowed by allow_unauthenticated, or
// refused (Validate names the first such target).
func warnExposures(cfg *pb.Config, log hclog.Logger) {
	for _, e := range exposures(cfg) {
		t := cfg.Targets[e.target]
		if e.allowed {
			log.Warn("target served without authentication or an access list on a non-loopback portal (allowUnauthenticated)",
				"target", t.Name, "portals", strings.Join(e.portals, ","))
			continue
		}
		log.Warn("refusing to serve a target without authentication or an access list on a non-loopback portal; "+
			"set allowUnauthenticated to serve it anyway", "target", t.Name, "portals", strings.Join(e.portals, ","))
	}
}
