package target

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/protobuf/proto"

	"github.com/atgt/atgt/actors/gateway"
	"github.com/atgt/atgt/actors/login"
	"github.com/atgt/atgt/actors/lun"
	"github.com/atgt/atgt/backend"
	pb "github.com/atgt/atgt/messages/atgtv1"
)

// maxPortGroupID is the largest target port group id: the id is also the 16-bit
// relative target port identifier and portal group tag (0 is reserved).
const maxPortGroupID = 65535

// maxALUAHold bounds Target.alua_hold_seconds: an hour.
const maxALUAHold = 3600

// portGroups is a target's ALUA view from this node: every node's target port group
// id, ascending, and the one this node serves. The zero value is the default of a
// target without port_groups: one node, portal group tag 1, no ALUA reported.
type portGroups struct {
	ids   []uint16
	local uint16
	// hold is how long the lock must stay put before the states follow it.
	hold time.Duration
}

// portGroupsOf reads a validated target's port groups.
func portGroupsOf(t *pb.Target) portGroups {
	var g portGroups
	for _, p := range t.PortGroups {
		g.ids = append(g.ids, uint16(p.Id))
	}
	slices.Sort(g.ids)
	g.local = uint16(t.LocalPortGroup)
	g.hold = time.Duration(t.GetAluaHoldSeconds()) * time.Second
	return g
}

// tag is the target portal group tag of this node's portals: the local group's id,
// or portalGroupTag without port groups.
func (g portGroups) tag() uint16 {
	if g.local == 0 {
		return portalGroupTag
	}
	return g.local
}

// discoveryAddresses is what SendTargets reports as the target's addresses: every
// node's portals, each with its group's tag ("IP:PORT,TAG"); nil without port groups
// (the connection's own address is reported then).
func discoveryAddresses(t *pb.Target) []string {
	var out []string
	for _, p := range t.PortGroups {
		for _, a := range p.Portals {
			// No IPv6 zone: it names this node's interface (RFC 7143 13.8's syntax has none).
			out = append(out, login.PortalAddress(a)+","+strconv.FormatUint(uint64(p.Id), 10))
		}
	}
	return out
}

// badPortGroups checks a target's port_groups and local_port_group against the
// node's portals; tf names the target ("targets[0]").
func badPortGroups(cfg *pb.Config, t *pb.Target, tf string) (field, msg string) {
	if h := t.AluaHoldSeconds; h != nil && (*h < 1 || *h > maxALUAHold) {
		return tf + ".aluaHoldSeconds", fmt.Sprintf("%d is not within 1..%d", *h, maxALUAHold)
	}
	if len(t.PortGroups) == 0 {
		if t.LocalPortGroup != 0 {
			return tf + ".localPortGroup", fmt.Sprintf("%d without portGroups", t.LocalPortGroup)
		}
		if t.AluaHoldSeconds != nil {
			return tf + ".aluaHoldSeconds", "set without portGroups"
		}
		return "", ""
	}
	ids := map[uint32]bool{}
	var local *pb.PortGroup
	for gi, p := range t.PortGroups {
		gf := fmt.Sprintf("%s.portGroups[%d]", tf, gi)
		if p.Id < 1 || p.Id > maxPortGroupID {
			return gf + ".id", fmt.Sprintf("%d is outside 1..%d", p.Id, maxPortGroupID)
		}
		if ids[p.Id] {
			return gf + ".id", fmt.Sprintf("%d is used by another port group", p.Id)
		}
		ids[p.Id] = true
		if len(p.Portals) == 0 {
			return gf + ".portals", "a port group needs at least one portal"
		}
		for pi, a := range p.Portals {
			if _, err := portalAddr(a); err != nil {
				return fmt.Sprintf("%s.portals[%d]", gf, pi), err.Error()
			}
		}
		if p.Id == t.LocalPortGroup {
			local = p
		}
	}
	if local == nil {
		return tf + ".localPortGroup", fmt.Sprintf("%d is not the id of one of portGroups", t.LocalPortGroup)
	}
	for _, a := range local.Portals {
		if !servedHere(cfg.Portals, a) {
			return tf + ".localPortGroup", fmt.Sprintf("its portal %s is not one of this node's portals %v", a, cfg.Portals)
		}
	}
	return "", ""
}

// portalAddr parses an initiator-facing portal, "IP:PORT": a wildcard or a host name
// would tell initiators nothing they can connect to.
func portalAddr(a string) (netip.AddrPort, error) {
	ap, err := netip.ParseAddrPort(a)
	if err != nil || ap.Port() == 0 || ap.Addr().IsUnspecified() {
		return netip.AddrPort{}, fmt.Errorf("%q is not IP:PORT", a)
	}
	return ap, nil
}

// servedHere reports whether portal a (IP:PORT) is one this node listens on: one of
// its portals, or a wildcard portal ("0.0.0.0:PORT", ":PORT") on the same port.
func servedHere(portals []string, a string) bool {
	want, err := portalAddr(a)
	if err != nil {
		return false
	}
	for _, p := range portals {
		host, port, err := net.SplitHostPort(p)
		if err != nil || port != strconv.Itoa(int(want.Port())) {
			continue
		}
		if host == "" {
			return true
		}
		if ip, err := netip.ParseAddr(host); err == nil && (ip.IsUnspecified() || ip.Unmap() == want.Addr().Unmap()) {
			return true
		}
	}
	return false
}

// equalPortGroups reports whether two versions of a target have the same port groups:
// the admin API does not change them live, since every LUN's identity data and every
// login's portal group tag depend on them.
func equalPortGroups(a, b *pb.Target) bool {
	if a.LocalPortGroup != b.LocalPortGroup || len(a.PortGroups) != len(b.PortGroups) {
		return false
	}
	for i := range a.PortGroups {
		if !proto.Equal(a.PortGroups[i], b.PortGroups[i]) {
			return false
		}
	}
	return true
}

// implicitTransitionSeconds bounds an implicit ALUA transition on a backend with an
// exclusive lock, as REPORT TARGET PORT GROUPS reports it: the first write through a
// new node waits for the lock, and for a dead owner that is the cluster's watch
// timeout (osd client watch timeout, 10 s in scripts/ceph-up.sh) plus the lock break
// and blocklisting (README "Several gateways").
const implicitTransitionSeconds = 30

// model is the LUN's ALUA model on backend b (lun.ALUA): nil without port groups.
func (g portGroups) model(b backend.Backend) *lun.ALUA {
	if len(g.ids) == 0 {
		return nil
	}
	a := &lun.ALUA{Local: g.local, Groups: g.ids, Hold: g.hold}
	if o, ok := b.(lun.LockOwner); ok {
		a.Owner = o
	}
	return a
}

// locateOwner lets every node of an RBD LUN learn which group holds the lock
// (gateway.Locator): through the event channel's object each node publishes its
// backend's RADOS client, and a node without the lock maps the holder's address to
// a group. Without a channel (one group, or no shared object) or a backend that can
// name the lock's holders, a node knows only whether it holds the lock itself.
func locateOwner(a *lun.ALUA, gw *gateway.Channel, b backend.Backend, log hclog.Logger) {
	h, ok := b.(gateway.LockHolders)
	if a == nil || a.Owner == nil || gw == nil || !ok {
		return
	}
	a.Locate = gw.Locator(h, func(err error) { log.Warn("ALUA: other gateways cannot learn this one holds the lock", "err", err) })
}

// gatewayChannel opens a LUN's channel to the other gateway nodes (actors/gateway):
// an RBD LUN of a target with several port groups announces its resets on the RADOS
// object next to its image, so that every node's initiators get their unit
// attention. Other backends have no place all nodes share: nil.
func (g portGroups) gatewayChannel(l *pb.Lun) (*gateway.Channel, error) {
	r := l.GetRbd()
	if len(g.ids) < 2 || l.Backend != "rbd" || r == nil {
		return nil, nil
	}
	bus, err := gateway.OpenRados(gateway.RadosConfig{Pool: r.Pool, Namespace: r.Namespace,
		Object: gateway.ObjectName(r.Image), User: r.User, CephConf: r.CephConf})
	if err != nil {
		return nil, err
	}
	ch, err := gateway.Open(bus, g.local)
	if err != nil {
		bus.Close()
		return nil, err
	}
	return ch, nil
}
