package target

import (
	"context"
	"math"
	"net/netip"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/atgt/atgt/actors/admin"
	"github.com/atgt/atgt/actors/dispatcher"
	pb "github.com/atgt/atgt/messages/atgtv1"
)

// AddTarget adds a target with its LUNs and access list and serves it at once.
func (s *Service) AddTarget(ctx context.Context, req *pb.AddTargetRequest) (*pb.AddTargetResponse, error) {
	if req.Target == nil || req.Target.Name == "" {
		return nil, admin.Invalid("target.name: required")
	}
	_, err := s.change(ctx, func(raw *pb.Config) error {
		if targetIn(raw, req.Target.Name) != nil {
			return admin.Exists("target %s: already exists", req.Target.Name)
		}
		raw.Targets = append(raw.Targets, proto.Clone(req.Target).(*pb.Target))
		return nil
	}, applyOpts{refuseMissing: true})
	if err != nil {
		return nil, err
	}
	return &pb.AddTargetResponse{}, nil
}

// RemoveTarget logs the target's sessions out (closing those that stay past the
// grace period), drains and removes its LUNs, and removes it.
func (s *Service) RemoveTarget(ctx context.Context, req *pb.RemoveTargetRequest) (*pb.RemoveTargetResponse, error) {
	p, err := s.change(ctx, func(raw *pb.Config) error {
		if targetIn(raw, req.Name) == nil {
			return admin.NotFound("target %s: no such target", req.Name)
		}
		if len(raw.Targets) == 1 {
			return admin.Busy("target %s: the last target cannot be removed (a config needs one)", req.Name)
		}
		raw.Targets = slices.DeleteFunc(raw.Targets, func(t *pb.Target) bool { return t.Name == req.Name })
		return nil
	}, applyOpts{force: true, grace: graceOf(req.GraceSeconds)})
	if err != nil {
		return nil, err
	}
	return &pb.RemoveTargetResponse{SessionsLoggedOut: uint32(p.loggedOut), SessionsClosed: uint32(p.closed)}, nil
}

// AddLun adds a LUN to a target (to an initiator's own LUNs when initiator is set).
func (s *Service) AddLun(ctx context.Context, req *pb.AddLunRequest) (*pb.AddLunResponse, error) {
	if req.Lun == nil {
		return nil, admin.Invalid("lun: required")
	}
	edit := addLunEdit(req)
	var info *pb.LunInfo
	_, err := s.run(ctx, func(wctx context.Context) (*plan, error) {
		p, err := s.changeLocked(wctx, edit, applyOpts{refuseMissing: true})
		if err == nil {
			var lv *liveLUN
			if lv, err = s.findLUN(req.Target, req.Initiator, req.Lun.Id); err == nil {
				info = lv.info()
			}
		}
		return p, err
	})
	if err != nil {
		return nil, err
	}
	return &pb.AddLunResponse{Lun: info}, nil
}

// addLunEdit is AddLun's edit of the config.
func addLunEdit(req *pb.AddLunRequest) func(raw *pb.Config) error {
	return func(raw *pb.Config) error {
		t := targetIn(raw, req.Target)
		if t == nil {
			return admin.NotFound("target %s: no such target", req.Target)
		}
		luns, err := lunsIn(t, req.Initiator)
		if err != nil && req.Initiator != "" {
			// The initiator's first own LUN: it sees its own set from its next login.
			t.InitiatorLuns = append(t.InitiatorLuns, &pb.InitiatorLuns{Initiator: req.Initiator})
			luns, err = lunsIn(t, req.Initiator)
		}
		if err != nil {
			return err
		}
		for _, l := range *luns {
			if l.Id == req.Lun.Id {
				return admin.Exists("%s: already exists", lunLabel(req.Target, req.Initiator, req.Lun.Id))
			}
		}
		*luns = append(*luns, proto.Clone(req.Lun).(*pb.Lun))
		return nil
	}
}

// RemoveLun removes a LUN; one with tasks in flight only with force (it drains).
func (s *Service) RemoveLun(ctx context.Context, req *pb.RemoveLunRequest) (*pb.RemoveLunResponse, error) {
	p, err := s.change(ctx, func(raw *pb.Config) error {
		t := targetIn(raw, req.Target)
		if t == nil {
			return admin.NotFound("target %s: no such target", req.Target)
		}
		luns, err := lunsIn(t, req.Initiator)
		if err != nil {
			return err
		}
		n := len(*luns)
		*luns = slices.DeleteFunc(*luns, func(l *pb.Lun) bool { return l.Id == req.Id })
		if len(*luns) == n {
			return admin.NotFound("%s: no such LUN", lunLabel(req.Target, req.Initiator, req.Id))
		}
		if req.Initiator != "" && len(*luns) == 0 {
			t.InitiatorLuns = slices.DeleteFunc(t.InitiatorLuns, func(il *pb.InitiatorLuns) bool { return il.Initiator == req.Initiator })
		}
		return nil
	}, applyOpts{force: req.Force})
	if err != nil {
		return nil, err
	}
	return &pb.RemoveLunResponse{DrainedTasks: uint64(p.drained)}, nil
}

// ResizeLun sets a file or memory LUN's size; a smaller one only with shrink.
func (s *Service) ResizeLun(ctx context.Context, req *pb.ResizeLunRequest) (*pb.ResizeLunResponse, error) {
	if req.SizeBytes == 0 {
		return nil, admin.Invalid("sizeBytes: required")
	}
	if req.SizeBytes > math.MaxInt64 {
		return nil, admin.Invalid("sizeBytes: %d is over the largest size a file or device can have (2^63-1 bytes)", req.SizeBytes)
	}
	var old uint64
	var key dispatcher.Key
	_, err := s.change(ctx, func(raw *pb.Config) error {
		lv, err := s.findLUN(req.Target, req.Initiator, req.Id)
		if err != nil {
			return err
		}
		old, key = uint64(lv.served.Size()), lv.key
		l, err := rawLUN(raw, req.Target, req.Initiator, req.Id)
		if err != nil {
			return err
		}
		l.SizeBytes = req.SizeBytes
		return nil
	}, applyOpts{shrink: req.Shrink, resize: &key})
	if err != nil {
		return nil, err
	}
	return &pb.ResizeLunResponse{OldSizeBytes: old, SizeBytes: req.SizeBytes}, nil
}

// rawLUN finds a LUN in a config as written.
func rawLUN(raw *pb.Config, target, initiator string, id uint64) (*pb.Lun, error) {
	t := targetIn(raw, target)
	if t == nil {
		return nil, admin.NotFound("target %s: no such target", target)
	}
	luns, err := lunsIn(t, initiator)
	if err != nil {
		return nil, err
	}
	for _, l := range *luns {
		if l.Id == id {
			return l, nil
		}
	}
	return nil, admin.NotFound("%s: no such LUN", lunLabel(target, initiator, id))
}

// AddAcl allows an initiator name and/or a source network on a target.
func (s *Service) AddAcl(ctx context.Context, req *pb.AddAclRequest) (*pb.AddAclResponse, error) {
	if err := s.editACL(ctx, req.Target, req.Initiator, req.Network, true, false); err != nil {
		return nil, err
	}
	return &pb.AddAclResponse{}, nil
}

// RemoveAcl takes an initiator name and/or a source network off a target's access
// list. Sessions already logged in stay (LogoutSession ends them).
func (s *Service) RemoveAcl(ctx context.Context, req *pb.RemoveAclRequest) (*pb.RemoveAclResponse, error) {
	if err := s.editACL(ctx, req.Target, req.Initiator, req.Network, false, req.AllowAny); err != nil {
		return nil, err
	}
	return &pb.RemoveAclResponse{}, nil
}

// editACL adds (add) or removes an initiator name and/or a network on a target's
// access list; adding one already there, or removing one that is not, is refused.
// So is removing the last distinct entry of a list unless allowAny (removing an
// entry removes each copy of it): an empty list admits everyone, and a revoke must
// not silently open the target.
func (s *Service) editACL(ctx context.Context, target, initiator, network string, add, allowAny bool) error {
	if err := checkAclRequest(initiator, network); err != nil {
		return err
	}
	edit := func(list *[]string, kind, v string) error {
		// The list would be empty: every entry is v (a list may name it twice).
		if v != "" && !add && !allowAny && len(*list) > 0 && !slices.ContainsFunc(*list, func(x string) bool { return x != v }) {
			return lastACLEntry(target, kind, v)
		}
		if v == "" {
			return nil
		}
		has := slices.Contains(*list, v)
		switch {
		case add && has:
			return admin.Exists("target %s: %s %s is already allowed", target, kind, v)
		case !add && !has:
			return admin.NotFound("target %s: %s %s is not on the access list", target, kind, v)
		case add:
			*list = append(*list, v)
		default:
			*list = slices.DeleteFunc(*list, func(x string) bool { return x == v })
		}
		return nil
	}
	_, err := s.change(ctx, func(raw *pb.Config) error {
		t := targetIn(raw, target)
		if t == nil {
			return admin.NotFound("target %s: no such target", target)
		}
		if err := edit(&t.AllowedInitiators, "initiator", initiator); err != nil {
			return err
		}
		return edit(&t.AllowedNetworks, "network", network)
	}, applyOpts{})
	return err
}

// lastACLEntry is the refusal to empty an access list: it says what an empty list
// would mean and how to get either outcome on purpose.
func lastACLEntry(target, kind, v string) error {
	list, anyone := "allowedInitiators", "every initiator name"
	if kind == "network" {
		list, anyone = "allowedNetworks", "every source address"
	}
	return admin.Busy("target %s: %s %s is the last entry of %s; removing it would empty the list, "+
		"which admits %s. To open the target on purpose, remove it with allow_any (atgtctl acl rm -allow-any); "+
		"to shut the target, remove the target (atgtctl target rm) or add the entry that should stay first",
		target, kind, v, list, anyone)
}

// checkAclRequest refuses an access-list request that names nothing, or a network
// that is not a CIDR or an address.
func checkAclRequest(initiator, network string) error {
	if initiator == "" && network == "" {
		return admin.Invalid("initiator or network: one is required")
	}
	if network != "" {
		if _, err := netip.ParsePrefix(network); err != nil {
			if _, err := netip.ParseAddr(network); err != nil || strings.Contains(network, "%") {
				return admin.Invalid("network: %q is not a CIDR (192.0.2.0/24) or an address", network)
			}
		}
	}
	return nil
}

// SetFaults replaces a LUN's faults (as its config's "faults"), and saves them.
func (s *Service) SetFaults(ctx context.Context, req *pb.SetFaultsRequest) (*pb.SetFaultsResponse, error) {
	_, err := s.change(ctx, func(raw *pb.Config) error {
		l, err := rawLUN(raw, req.Target, req.Initiator, req.Id)
		if err != nil {
			return err
		}
		l.Faults = nil
		for _, f := range req.Faults {
			l.Faults = append(l.Faults, proto.Clone(f).(*pb.Fault))
		}
		return nil
	}, applyOpts{})
	if err != nil {
		return nil, err
	}
	return &pb.SetFaultsResponse{}, nil
}

// ClearFaults removes a LUN's faults, releasing the calls they hold.
func (s *Service) ClearFaults(ctx context.Context, req *pb.ClearFaultsRequest) (*pb.ClearFaultsResponse, error) {
	if _, err := s.SetFaults(ctx, &pb.SetFaultsRequest{Target: req.Target, Initiator: req.Initiator, Id: req.Id}); err != nil {
		return nil, err
	}
	return &pb.ClearFaultsResponse{}, nil
}

// ApplyConfig makes the served state match a config: what differs, and only that, is
// changed (or with dry_run only listed); a difference that needs a restart refuses
// the whole config, naming the field.
func (s *Service) ApplyConfig(ctx context.Context, req *pb.ApplyConfigRequest) (*pb.ApplyConfigResponse, error) {
	if req.Config == nil {
		return nil, admin.Invalid("config: required")
	}
	next := proto.Clone(req.Config).(*pb.Config)
	return s.applyConfig(ctx, func() (*pb.Config, error) { return next, nil }, req.DryRun)
}

// ReloadConfig reads the config file at path (LoadConfig) and applies it as
// ApplyConfig does (SIGHUP). The file is read once the change lock is held, so a
// change that completed before the reload took the lock (and saved the file) is in
// what it reads: a reload never applies a file older than an acknowledged change.
// A file that cannot be loaded changes nothing; its error is LoadConfig's
// (os.ErrNotExist when there is none).
func (s *Service) ReloadConfig(ctx context.Context, path string) (*pb.ApplyConfigResponse, error) {
	return s.applyConfig(ctx, func() (*pb.Config, error) { return LoadConfig(path) }, false)
}

// applyConfig applies the config that read returns, read under the change lock.
func (s *Service) applyConfig(ctx context.Context, read func() (*pb.Config, error), dryRun bool) (*pb.ApplyConfigResponse, error) {
	p, err := s.run(ctx, func(wctx context.Context) (*plan, error) {
		if s.system == nil || s.root == nil || s.rootGone.Load() {
			return nil, admin.Busy("the target is stopping")
		}
		next, err := read()
		if err != nil {
			return nil, err
		}
		return s.apply(wctx, next, applyOpts{dryRun: dryRun, force: true, grace: defaultLogoutGrace})
	})
	out := &pb.ApplyConfigResponse{}
	if p != nil {
		out.Changes = p.changes
		out.Applied = err == nil && !dryRun && len(p.changes) > 0
	}
	return out, err
}
