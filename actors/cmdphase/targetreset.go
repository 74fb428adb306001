package cmdphase

import (
	"github.com/atgt/atgt/actors/limit"
	"github.com/atgt/atgt/messages/iscsi"
)

// mayResetTarget reports whether the target lets this nexus have a TARGET WARM
// RESET or TARGET COLD RESET (fn) run (Config.MayResetTarget). A target reset acts on
// every logical unit of the target and, cold, ends every session to it (RFC 7143
// 11.5.1): a target whose initiators each see only some of its logical units
// (initiator_luns) may keep one from resetting the others' and closing their
// sessions, answering "Function authorization failed" (11.6.1). A refusal is logged
// naming the initiator and the target, at warn, at most as often as Config.MayWarn
// allows (the others at info), so that an administrator sees why a host's error
// recovery went on to log in again.
func (m *Machine) mayResetTarget(fn uint8) bool {
	if m.cfg.MayResetTarget == nil {
		return true
	}
	target := m.cfg.Login.Target.Name
	ok, why := m.cfg.MayResetTarget(target, m.route)
	if ok {
		return true
	}
	name := "TARGET WARM RESET"
	if fn == iscsi.TMFTargetColdReset {
		name = "TARGET COLD RESET"
	}
	limit.LogRefusal(m.log, m.cfg.MayWarn, "target reset refused", "target reset refused (Function authorization failed)",
		"function", name, "initiator", m.cfg.Login.InitiatorName, "target", target, "reason", why)
	return false
}
