package target

import (
	"fmt"

	pb "github.com/atgt/atgt/messages/atgtv1"
)

// Target reset policies (Target.target_reset): who may have a TARGET WARM RESET or
// TARGET COLD RESET run. A target reset acts on every logical unit of the target
// and, cold, closes every session to it (RFC 7143 11.5.1): on a target whose
// initiator_luns give initiators logical units of their own, one tenant's reset
// would end the others' sessions, which initiator_luns promise to keep apart.
const (
	// TargetResetAuto (the default) lets an initiator that sees every logical unit
	// of the target reset it, and refuses one that initiator_luns limit to some.
	TargetResetAuto = "auto"
	// TargetResetAllow lets every initiator reset the target (as before the
	// option existed).
	TargetResetAllow = "allow"
	// TargetResetRefuse lets no initiator reset the target.
	TargetResetRefuse = "refuse"
)

// badTargetReset checks a target's target_reset (tf names the target) and returns
// the bad field and why, or "".
func badTargetReset(t *pb.Target, tf string) (field, msg string) {
	switch t.TargetReset {
	case "", TargetResetAuto, TargetResetAllow, TargetResetRefuse: // "": auto, before defaults
		return "", ""
	}
	return tf + ".targetReset", fmt.Sprintf("%q is not %s, %s or %s", t.TargetReset,
		TargetResetAuto, TargetResetAllow, TargetResetRefuse)
}

// resetRule is what decides whether a nexus may reset one target: its policy and
// the routes of its sets of logical units (lunSets).
type resetRule struct {
	policy string
	routes []string
}

// resetRuleOf is the reset rule of a validated target.
func resetRuleOf(t *pb.Target) resetRule {
	r := resetRule{policy: t.TargetReset}
	for _, set := range lunSets(0, t) {
		r.routes = append(r.routes, set.route)
	}
	return r
}

// allows reports whether a nexus whose tasks are routed by route (its initiator's
// own logical units, or the target's shared ones) may reset the target, and if not
// why. Under auto it may if it sees every logical unit of the target: the target has
// no set of logical units but the one route names.
func (r resetRule) allows(route string) (bool, string) {
	switch r.policy {
	case TargetResetAllow:
		return true, ""
	case TargetResetRefuse:
		return false, "targetReset is refuse"
	}
	for _, other := range r.routes {
		if other != route {
			return false, "initiatorLuns limit the initiator to some of the target's logical units (targetReset auto)"
		}
	}
	return true, ""
}

// mayResetTarget answers a connection's question (conn.Config.MayResetTarget) from
// the current access, so that an administrator's change of a target's policy or
// initiator_luns holds for the sessions already logged in. A target no longer
// served (its sessions are being asked to leave) is not reset.
func (h *accessHolder) mayResetTarget(target, route string) (bool, string) {
	r, ok := h.load().resets[target]
	if !ok {
		return false, "the target is being removed"
	}
	return r.allows(route)
}
