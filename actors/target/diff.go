package target

import (
	"fmt"
	"math"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/atgt/atgt/actors/admin"
	"github.com/atgt/atgt/actors/dispatcher"
	"github.com/atgt/atgt/backend"
	pb "github.com/atgt/atgt/messages/atgtv1"
)

// plan is what makes the served state match a new config: every change the admin
// API applies live, and one line per change for the administrator. diff computes it;
// execute (adminchange.go) carries it out.
type plan struct {
	changes []string
	// removeTargets are the names of targets to remove (an added target needs only
	// its LUNs added and the access rebuilt).
	removeTargets []string
	addLUNs       []lunAdd
	removeLUNs    []dispatcher.Key
	resizes       []resizeStep
	faults        []faultStep
	// touched are the routes whose set of LUNs changed, for REPORTED LUNS DATA HAS
	// CHANGED.
	touched map[string]bool
	// What the removals did, for the answer: tasks drained, sessions of removed
	// targets asked to log out and closed after the grace.
	drained           int64
	loggedOut, closed int
}

// lunAdd is a LUN to open and spawn.
type lunAdd struct {
	name, initiator, route string
	field                  string
	lun                    *pb.Lun
	ports                  portGroups
}

// resizeStep sets a LUN's size.
type resizeStep struct {
	key   dispatcher.Key
	size  int64
	field string // the LUN in the config, for errors
}

// faultStep sets a LUN's faults.
type faultStep struct {
	key    dispatcher.Key
	faults []*pb.Fault
}

// empty reports whether the plan changes nothing.
func (p *plan) empty() bool { return len(p.changes) == 0 }

// say adds a line for the administrator; a field in it is named as the config file
// writes it (firstDifference's names are).
func (p *plan) say(format string, a ...any) {
	p.changes = append(p.changes, fmt.Sprintf(format, a...))
}

// diff computes the plan from the served config to next (both with defaults). A
// difference the admin API cannot apply live (a portal, a LUN's path or block size)
// is refused, naming the field, and nothing is applied. shrink allows a LUN to get
// smaller than its backend.
func (s *Service) diff(old, next *pb.Config, opts applyOpts) (*plan, error) {
	p := &plan{touched: map[string]bool{}}
	if f := firstDifference(globalPart(old), globalPart(next), ""); f != "" {
		return nil, admin.Busy("config: %s: changing it needs a restart of atgtd (nothing was applied)", f)
	}
	if !proto.Equal(old.DiscoveryChap, next.DiscoveryChap) || !proto.Equal(old.DiscoveryMutualChap, next.DiscoveryMutualChap) ||
		!equalStrings(old.ChapAlgorithms, next.ChapAlgorithms) {
		p.say("update discovery CHAP")
	}
	oldT := map[string]*pb.Target{}
	for _, t := range old.Targets {
		oldT[t.Name] = t
	}
	newT := map[string]bool{}
	for ti, t := range next.Targets {
		newT[t.Name] = true
		o, ok := oldT[t.Name]
		if !ok {
			p.say("add target %s", t.Name)
			for _, set := range lunSets(ti, t) {
				for li, l := range set.luns {
					p.addLUNs = append(p.addLUNs, lunAdd{name: t.Name, initiator: set.initiator, route: set.route,
						field: fmt.Sprintf("config: %s.luns[%d]", set.field, li), lun: l, ports: portGroupsOf(t)})
					p.say("add %s", lunLabel(t.Name, set.initiator, l.Id))
				}
			}
			continue
		}
		if !equalPortGroups(o, t) {
			return nil, admin.Busy("config: targets[%d].portGroups: changing a target's port groups needs a restart of atgtd (nothing was applied)", ti)
		}
		if o.GetAluaHoldSeconds() != t.GetAluaHoldSeconds() { // validated: a set value is never 0
			return nil, admin.Busy("config: targets[%d].aluaHoldSeconds: changing it needs a restart of atgtd, as portGroups does (nothing was applied)", ti)
		}
		if !proto.Equal(targetPart(o), targetPart(t)) {
			p.say("update target %s (%s)", t.Name, firstDifference(targetPart(o), targetPart(t), ""))
		}
		if err := s.diffLUNs(p, ti, o, t, opts); err != nil {
			return nil, err
		}
	}
	for _, t := range old.Targets {
		if newT[t.Name] {
			continue
		}
		p.removeTargets = append(p.removeTargets, t.Name)
		p.say("remove target %s", t.Name)
		for _, set := range lunSets(0, t) {
			for _, l := range set.luns {
				p.removeLUNs = append(p.removeLUNs, dispatcher.Key{Target: set.route, LUN: l.Id})
				p.say("remove %s", lunLabel(t.Name, set.initiator, l.Id))
			}
		}
	}
	return p, nil
}

// diffLUNs adds the LUN changes of a target present in both configs (ti is its index
// in the new one).
func (s *Service) diffLUNs(p *plan, ti int, old, next *pb.Target, opts applyOpts) error {
	before := map[string]map[uint64]*pb.Lun{}
	for _, set := range lunSets(ti, old) {
		before[set.route] = map[uint64]*pb.Lun{}
		for _, l := range set.luns {
			before[set.route][l.Id] = l
		}
	}
	after := map[string]bool{}
	for _, set := range lunSets(ti, next) {
		for li, l := range set.luns {
			field := fmt.Sprintf("config: %s.luns[%d]", set.field, li)
			key := dispatcher.Key{Target: set.route, LUN: l.Id}
			after[fmt.Sprint(key)] = true
			o, ok := before[set.route][l.Id]
			if !ok {
				p.addLUNs = append(p.addLUNs, lunAdd{name: next.Name, initiator: set.initiator, route: set.route, field: field, lun: l,
					ports: portGroupsOf(next)})
				p.touched[set.route] = true
				p.say("add %s", lunLabel(next.Name, set.initiator, l.Id))
				continue
			}
			if f := firstDifference(lunPart(o), lunPart(l), ""); f != "" {
				return admin.Busy("%s.%s: changing it needs the LUN removed and added again, or a restart (nothing was applied)", field, f)
			}
			if err := s.diffSize(p, field, key, next.Name, set.initiator, o, l, opts); err != nil {
				return err
			}
			if !equalFaults(o.Faults, l.Faults) {
				p.faults = append(p.faults, faultStep{key: key, faults: l.Faults})
				p.say("set faults of %s (%d)", lunLabel(next.Name, set.initiator, l.Id), len(l.Faults))
			}
		}
	}
	for route, luns := range before {
		for id := range luns {
			key := dispatcher.Key{Target: route, LUN: id}
			if after[fmt.Sprint(key)] {
				continue
			}
			p.removeLUNs = append(p.removeLUNs, key)
			p.touched[route] = true
			initiator := ""
			if _, in, ok := strings.Cut(route, " "); ok {
				initiator = in
			}
			p.say("remove %s", lunLabel(next.Name, initiator, id))
		}
	}
	return nil
}

// diffSize adds a resize when a LUN's sizeBytes changed (or a ResizeLun names it):
// to the new size, unless the backend already has it. A smaller size than the
// backend's needs shrink.
func (s *Service) diffSize(p *plan, field string, key dispatcher.Key, name, initiator string, o, l *pb.Lun, opts applyOpts) error {
	asked := opts.resize != nil && *opts.resize == key
	if !asked && (o.SizeBytes == l.SizeBytes || l.SizeBytes == 0) {
		return nil
	}
	shrink := opts.shrink
	live, ok := s.live[key]
	if !ok {
		return nil
	}
	if l.SizeBytes > math.MaxInt64 {
		return admin.Invalid("%s.sizeBytes: %d is over the largest size a file or device can have (2^63-1 bytes) (nothing was applied)", field, l.SizeBytes)
	}
	cur, size := live.served.Size(), int64(l.SizeBytes)
	if size == cur {
		return nil
	}
	if _, ok := live.raw.(backend.Resizer); !ok {
		return admin.Busy("%s.sizeBytes: this LUN's backend cannot be resized (a block device's size is the device's)", field)
	}
	if size%int64(live.blockSize) != 0 {
		return admin.Invalid("%s.sizeBytes: %d is not a multiple of the block size %d", field, size, live.blockSize)
	}
	if size < cur && !shrink {
		return admin.Busy("%s.sizeBytes: %d is smaller than the LUN's %d bytes; shrinking loses the blocks past the new end: use `atgtctl lun resize --shrink` (nothing was applied)",
			field, size, cur)
	}
	p.resizes = append(p.resizes, resizeStep{key: key, size: size, field: field})
	p.say("resize %s %d -> %d", lunLabel(name, initiator, l.Id), cur, size)
	return nil
}

// globalPart is a config without what the admin API changes live: its targets and
// the discovery CHAP.
func globalPart(c *pb.Config) *pb.Config {
	g := proto.Clone(c).(*pb.Config)
	g.Targets, g.DiscoveryChap, g.DiscoveryMutualChap, g.ChapAlgorithms = nil, nil, nil, nil
	return g
}

// targetPart is a target without its LUNs.
func targetPart(t *pb.Target) *pb.Target {
	c := proto.Clone(t).(*pb.Target)
	c.Luns, c.InitiatorLuns = nil, nil
	return c
}

// lunPart is a LUN without what the admin API changes live: its size and faults.
func lunPart(l *pb.Lun) *pb.Lun {
	c := proto.Clone(l).(*pb.Lun)
	c.SizeBytes, c.Faults, c.FaultSeed = 0, nil, nil
	return c
}

// firstDifference names the first field (by its JSON name, as the config file writes
// it, dotted from prefix) in which a and b differ, or "".
func firstDifference(a, b proto.Message, prefix string) string {
	ma, mb := a.ProtoReflect(), b.ProtoReflect()
	fields := ma.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		name := prefix + fd.JSONName()
		if ma.Has(fd) != mb.Has(fd) {
			return name
		}
		if !ma.Has(fd) {
			continue
		}
		va, vb := ma.Get(fd), mb.Get(fd)
		if fd.Kind() == protoreflect.MessageKind && !fd.IsList() && !fd.IsMap() {
			if f := firstDifference(va.Message().Interface(), vb.Message().Interface(), name+"."); f != "" {
				return f
			}
			continue
		}
		if !va.Equal(vb) {
			return name
		}
	}
	return ""
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func equalFaults(a, b []*pb.Fault) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !proto.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}
