package target

import (
	"sync/atomic"

	"github.com/atgt/atgt/actors/login"
	pb "github.com/atgt/atgt/messages/atgtv1"
)

// access is what logins are checked against: the targets by name with their access
// lists, what SendTargets may name, and the CHAP policies. It is built whole from the
// served config and replaced whole when an administrator changes a target or an
// access list, so a login reads one consistent version without a lock.
type access struct {
	targets   map[string]login.TargetInfo
	discovery []login.DiscoveryTarget
	auth      login.Authenticator  // nil: AuthMethod None only
	resets    map[string]resetRule // by target name (targetreset.go)
}

// buildAccess builds the access of a validated config.
func buildAccess(cfg *pb.Config) *access {
	a := &access{targets: map[string]login.TargetInfo{}, auth: chapAuth(cfg), resets: map[string]resetRule{}}
	for _, t := range cfg.Targets {
		a.resets[t.Name] = resetRuleOf(t)
		allowed, from, credentialed := initiatorAllowList(t), allowFrom(t.AllowedNetworks), credentialedOnly(t)
		a.targets[t.Name] = login.TargetInfo{Name: t.Name, Alias: t.Alias, PortalGroupTag: portGroupsOf(t).tag(),
			Allowed: allowed, Credentialed: credentialed, AllowedFrom: from, Route: initiatorRoute(t)}
		a.discovery = append(a.discovery, login.DiscoveryTarget{Name: t.Name, Allowed: both(allowed, credentialed),
			AllowedFrom: from, Addresses: discoveryAddresses(t)})
	}
	return a
}

// accessHolder holds the current access. It is the connections' login Authenticator
// too, passing each call to the current version's.
type accessHolder struct{ cur atomic.Pointer[access] }

func (h *accessHolder) set(a *access) { h.cur.Store(a) }

func (h *accessHolder) load() *access {
	if a := h.cur.Load(); a != nil {
		return a
	}
	return &access{}
}

// lookup finds a target by name, for login.
func (h *accessHolder) lookup(name string) (login.TargetInfo, bool) {
	t, ok := h.load().targets[name]
	return t, ok
}

// discovery lists the targets SendTargets may name.
func (h *accessHolder) discovery() []login.DiscoveryTarget { return h.load().discovery }

func (h *accessHolder) authenticator() login.Authenticator {
	if a := h.load().auth; a != nil {
		return a
	}
	return login.AuthNone{}
}

// Methods passes to the current version's authenticator.
func (h *accessHolder) Methods(who login.AuthContext) []string { return h.authenticator().Methods(who) }

// Begin passes to the current version's authenticator.
func (h *accessHolder) Begin(method string, who login.AuthContext) login.AuthExchange {
	return h.authenticator().Begin(method, who)
}
