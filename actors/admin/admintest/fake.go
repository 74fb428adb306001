// Package admintest holds an in-memory admin.API for tests of the admin service's
// clients (the HTTP and actor forms, atgtctl), so that they run without a target.
package admintest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/atgt/atgt/actors/admin"
	pb "github.com/atgt/atgt/messages/atgtv1"
)

// Fake is an admin.API over a config held in memory. It checks what the real
// service checks that a client can get wrong (unknown target or LUN, a duplicate,
// a shrink without the flag) with the same error codes, and records every request,
// so tests can check both what a client sent and how it shows the answer.
type Fake struct {
	// LogoutDelay is how long LogoutSession takes, to stand for the grace period.
	LogoutDelay time.Duration

	mu       sync.Mutex
	cfg      *pb.Config
	sessions []*pb.SessionInfo
	requests []proto.Message
}

// New returns a Fake serving cfg (cloned) with the given logged-in sessions.
func New(cfg *pb.Config, sessions []*pb.SessionInfo) *Fake {
	return &Fake{cfg: proto.Clone(cfg).(*pb.Config), sessions: sessions}
}

// Requests returns the requests received so far, oldest first.
func (f *Fake) Requests() []proto.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.requests)
}

// Config returns a copy of the served config.
func (f *Fake) Config() *pb.Config {
	f.mu.Lock()
	defer f.mu.Unlock()
	return proto.Clone(f.cfg).(*pb.Config)
}

// begin records req and locks the state; the caller defers f.mu.Unlock.
func (f *Fake) begin(req proto.Message) {
	f.mu.Lock()
	f.requests = append(f.requests, proto.Clone(req))
}

// target finds a target by name.
func (f *Fake) target(name string) (*pb.Target, error) {
	for _, t := range f.cfg.Targets {
		if t.Name == name {
			return t, nil
		}
	}
	return nil, admin.NotFound("no such target")
}

// lunSet returns the LUN list a (target, initiator) pair names.
func (f *Fake) lunSet(target, initiator string) (*[]*pb.Lun, error) {
	t, err := f.target(target)
	if err != nil {
		return nil, err
	}
	if initiator == "" {
		return &t.Luns, nil
	}
	for _, il := range t.InitiatorLuns {
		if il.Initiator == initiator {
			return &il.Luns, nil
		}
	}
	return nil, admin.NotFound("initiator %s has no LUNs of its own", initiator)
}

// lun finds one LUN and its index in its set.
func (f *Fake) lun(target, initiator string, id uint64) (*[]*pb.Lun, int, error) {
	set, err := f.lunSet(target, initiator)
	if err != nil {
		return nil, 0, err
	}
	i := slices.IndexFunc(*set, func(l *pb.Lun) bool { return l.Id == id })
	if i < 0 {
		return nil, 0, admin.NotFound("no such LUN")
	}
	return set, i, nil
}

// info describes a LUN as ListLuns does.
func info(target, initiator string, l *pb.Lun) *pb.LunInfo {
	backend, bs, workers := l.Backend, l.BlockSize, l.Workers
	if backend == "" {
		backend = "file"
	}
	if bs == 0 {
		bs = 512
	}
	if workers == 0 {
		workers = 4
	}
	policy := l.IoPolicy
	if policy == "" {
		policy = "threaded"
	}
	return &pb.LunInfo{Target: target, Initiator: initiator, Id: l.Id, Backend: backend, Path: l.Path,
		SizeBytes: l.SizeBytes, BlockSize: bs, ReadOnly: l.ReadOnly, Workers: workers, Faults: uint32(len(l.Faults)),
		IoPolicy: policy}
}

// Status reports the fake's counts.
func (f *Fake) Status(_ context.Context, req *pb.StatusRequest) (*pb.StatusResponse, error) {
	f.begin(req)
	defer f.mu.Unlock()
	n := 0
	for _, t := range f.cfg.Targets {
		n += len(t.Luns)
		for _, il := range t.InitiatorLuns {
			n += len(il.Luns)
		}
	}
	return &pb.StatusResponse{Version: "devel", UptimeSeconds: 42.5, Portals: f.cfg.Portals,
		Targets: uint32(len(f.cfg.Targets)), Luns: uint32(n), Sessions: uint32(len(f.sessions)), ConfigPath: "/etc/atgt/atgt.json"}, nil
}

// ListTargets lists the config's targets.
func (f *Fake) ListTargets(_ context.Context, req *pb.ListTargetsRequest) (*pb.ListTargetsResponse, error) {
	f.begin(req)
	defer f.mu.Unlock()
	resp := &pb.ListTargetsResponse{}
	for _, t := range f.cfg.Targets {
		ti := &pb.TargetInfo{Name: t.Name, Alias: t.Alias, AllowedInitiators: t.AllowedInitiators,
			AllowedNetworks: t.AllowedNetworks, Chap: t.Chap != nil}
		for _, l := range t.Luns {
			ti.Luns = append(ti.Luns, l.Id)
		}
		for _, il := range t.InitiatorLuns {
			ti.OwnLunsInitiators = append(ti.OwnLunsInitiators, il.Initiator)
		}
		for _, s := range f.sessions {
			if s.Target == t.Name {
				ti.Sessions++
			}
		}
		resp.Targets = append(resp.Targets, ti)
	}
	return resp, nil
}

// ListLuns lists the LUNs of one target or all.
func (f *Fake) ListLuns(_ context.Context, req *pb.ListLunsRequest) (*pb.ListLunsResponse, error) {
	f.begin(req)
	defer f.mu.Unlock()
	luns, err := f.luns(req.Target)
	if err != nil {
		return nil, err
	}
	return &pb.ListLunsResponse{Luns: luns}, nil
}

// luns describes the LUNs of target, or of all when it is "".
func (f *Fake) luns(target string) ([]*pb.LunInfo, error) {
	if target != "" {
		if _, err := f.target(target); err != nil {
			return nil, err
		}
	}
	var out []*pb.LunInfo
	for _, t := range f.cfg.Targets {
		if target != "" && t.Name != target {
			continue
		}
		for _, l := range t.Luns {
			out = append(out, info(t.Name, "", l))
		}
		for _, il := range t.InitiatorLuns {
			for _, l := range il.Luns {
				out = append(out, info(t.Name, il.Initiator, l))
			}
		}
	}
	return out, nil
}

// ListSessions lists the sessions given to New, of one target or all.
func (f *Fake) ListSessions(_ context.Context, req *pb.ListSessionsRequest) (*pb.ListSessionsResponse, error) {
	f.begin(req)
	defer f.mu.Unlock()
	resp := &pb.ListSessionsResponse{}
	for _, s := range f.sessions {
		if req.Target == "" || s.Target == req.Target {
			resp.Sessions = append(resp.Sessions, s)
		}
	}
	return resp, nil
}

// AddTarget adds a target unless one has its name.
func (f *Fake) AddTarget(_ context.Context, req *pb.AddTargetRequest) (*pb.AddTargetResponse, error) {
	f.begin(req)
	defer f.mu.Unlock()
	if req.Target.GetName() == "" {
		return nil, admin.Invalid("target.name: required")
	}
	if _, err := f.target(req.Target.Name); err == nil {
		return nil, admin.Exists("target exists")
	}
	f.cfg.Targets = append(f.cfg.Targets, proto.Clone(req.Target).(*pb.Target))
	return &pb.AddTargetResponse{}, nil
}

// RemoveTarget removes a target and "logs out" its sessions.
func (f *Fake) RemoveTarget(_ context.Context, req *pb.RemoveTargetRequest) (*pb.RemoveTargetResponse, error) {
	f.begin(req)
	defer f.mu.Unlock()
	if _, err := f.target(req.Name); err != nil {
		return nil, err
	}
	f.cfg.Targets = slices.DeleteFunc(f.cfg.Targets, func(t *pb.Target) bool { return t.Name == req.Name })
	n := len(f.sessions)
	f.sessions = slices.DeleteFunc(f.sessions, func(s *pb.SessionInfo) bool { return s.Target == req.Name })
	return &pb.RemoveTargetResponse{SessionsLoggedOut: uint32(n - len(f.sessions))}, nil
}

// AddLun adds a LUN unless its id is taken.
func (f *Fake) AddLun(_ context.Context, req *pb.AddLunRequest) (*pb.AddLunResponse, error) {
	f.begin(req)
	defer f.mu.Unlock()
	set, err := f.lunSet(req.Target, req.Initiator)
	if err != nil {
		return nil, err
	}
	if req.Lun == nil {
		return nil, admin.Invalid("lun: required")
	}
	if slices.ContainsFunc(*set, func(l *pb.Lun) bool { return l.Id == req.Lun.Id }) {
		return nil, admin.Exists("LUN %d exists", req.Lun.Id)
	}
	l := proto.Clone(req.Lun).(*pb.Lun)
	*set = append(*set, l)
	return &pb.AddLunResponse{Lun: info(req.Target, req.Initiator, l)}, nil
}

// RemoveLun removes a LUN.
func (f *Fake) RemoveLun(_ context.Context, req *pb.RemoveLunRequest) (*pb.RemoveLunResponse, error) {
	f.begin(req)
	defer f.mu.Unlock()
	set, i, err := f.lun(req.Target, req.Initiator, req.Id)
	if err != nil {
		return nil, err
	}
	*set = slices.Delete(*set, i, i+1)
	return &pb.RemoveLunResponse{}, nil
}

// ResizeLun sets a LUN's size; a smaller one needs shrink.
func (f *Fake) ResizeLun(_ context.Context, req *pb.ResizeLunRequest) (*pb.ResizeLunResponse, error) {
	f.begin(req)
	defer f.mu.Unlock()
	set, i, err := f.lun(req.Target, req.Initiator, req.Id)
	if err != nil {
		return nil, err
	}
	l := (*set)[i]
	if req.SizeBytes < l.SizeBytes && !req.Shrink {
		return nil, admin.Busy("%d bytes is smaller than the LUN's %d; shrinking loses data: pass shrink", req.SizeBytes, l.SizeBytes)
	}
	old := l.SizeBytes
	l.SizeBytes = req.SizeBytes
	return &pb.ResizeLunResponse{OldSizeBytes: old, SizeBytes: req.SizeBytes}, nil
}

// AddAcl appends to a target's access lists.
func (f *Fake) AddAcl(_ context.Context, req *pb.AddAclRequest) (*pb.AddAclResponse, error) {
	f.begin(req)
	defer f.mu.Unlock()
	t, err := f.target(req.Target)
	if err != nil {
		return nil, err
	}
	if req.Initiator == "" && req.Network == "" {
		return nil, admin.Invalid("initiator or network: required")
	}
	if req.Initiator != "" {
		t.AllowedInitiators = append(t.AllowedInitiators, req.Initiator)
	}
	if req.Network != "" {
		t.AllowedNetworks = append(t.AllowedNetworks, req.Network)
	}
	return &pb.AddAclResponse{}, nil
}

// RemoveAcl takes entries off a target's access lists.
func (f *Fake) RemoveAcl(_ context.Context, req *pb.RemoveAclRequest) (*pb.RemoveAclResponse, error) {
	f.begin(req)
	defer f.mu.Unlock()
	t, err := f.target(req.Target)
	if err != nil {
		return nil, err
	}
	if req.Initiator != "" && !slices.Contains(t.AllowedInitiators, req.Initiator) {
		return nil, admin.NotFound("initiator %s is not on the access list", req.Initiator)
	}
	if req.Network != "" && !slices.Contains(t.AllowedNetworks, req.Network) {
		return nil, admin.NotFound("network %s is not on the access list", req.Network)
	}
	t.AllowedInitiators = slices.DeleteFunc(t.AllowedInitiators, func(s string) bool { return s == req.Initiator })
	t.AllowedNetworks = slices.DeleteFunc(t.AllowedNetworks, func(s string) bool { return s == req.Network })
	return &pb.RemoveAclResponse{}, nil
}

// LogoutSession ends a session after LogoutDelay (or when ctx ends first).
func (f *Fake) LogoutSession(ctx context.Context, req *pb.LogoutSessionRequest) (*pb.LogoutSessionResponse, error) {
	f.begin(req)
	i := slices.IndexFunc(f.sessions, func(s *pb.SessionInfo) bool { return s.Tsih == req.Tsih })
	f.mu.Unlock()
	if i < 0 {
		return nil, admin.NotFound("no such session")
	}
	select {
	case <-time.After(f.LogoutDelay):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sessions = slices.DeleteFunc(f.sessions, func(s *pb.SessionInfo) bool { return s.Tsih == req.Tsih })
	return &pb.LogoutSessionResponse{}, nil
}

// Stats reports made-up counters per LUN, derived from the LUN id so that tests
// can check them.
func (f *Fake) Stats(_ context.Context, req *pb.StatsRequest) (*pb.StatsResponse, error) {
	f.begin(req)
	defer f.mu.Unlock()
	luns, err := f.luns(req.Target)
	if err != nil {
		return nil, err
	}
	resp := &pb.StatsResponse{}
	for _, l := range luns {
		resp.Luns = append(resp.Luns, &pb.LunStats{Target: l.Target, Initiator: l.Initiator, Id: l.Id,
			Reads: 10 + l.Id, Writes: 20 + l.Id, BytesRead: 4096 * (10 + l.Id), BytesWritten: 4096 * (20 + l.Id)})
	}
	return resp, nil
}

// SetFaults replaces a LUN's faults.
func (f *Fake) SetFaults(_ context.Context, req *pb.SetFaultsRequest) (*pb.SetFaultsResponse, error) {
	f.begin(req)
	defer f.mu.Unlock()
	set, i, err := f.lun(req.Target, req.Initiator, req.Id)
	if err != nil {
		return nil, err
	}
	for n, ft := range req.Faults {
		if ft.Kind == "" {
			return nil, admin.Invalid("faults[%d].kind: required", n)
		}
	}
	(*set)[i].Faults = req.Faults
	return &pb.SetFaultsResponse{}, nil
}

// ClearFaults removes a LUN's faults.
func (f *Fake) ClearFaults(_ context.Context, req *pb.ClearFaultsRequest) (*pb.ClearFaultsResponse, error) {
	f.begin(req)
	defer f.mu.Unlock()
	set, i, err := f.lun(req.Target, req.Initiator, req.Id)
	if err != nil {
		return nil, err
	}
	(*set)[i].Faults = nil
	return &pb.ClearFaultsResponse{}, nil
}

// GetConfig returns the served config.
func (f *Fake) GetConfig(_ context.Context, req *pb.GetConfigRequest) (*pb.GetConfigResponse, error) {
	f.begin(req)
	defer f.mu.Unlock()
	return &pb.GetConfigResponse{Config: proto.Clone(f.cfg).(*pb.Config)}, nil
}

// ApplyConfig reports targets added and removed by name (the fake's whole diff)
// and, unless a dry run, serves the new config.
func (f *Fake) ApplyConfig(_ context.Context, req *pb.ApplyConfigRequest) (*pb.ApplyConfigResponse, error) {
	f.begin(req)
	defer f.mu.Unlock()
	names := func(c *pb.Config) []string {
		var out []string
		for _, t := range c.GetTargets() {
			out = append(out, t.Name)
		}
		return out
	}
	old, nu := names(f.cfg), names(req.Config)
	var changes []string
	for _, n := range nu {
		if !slices.Contains(old, n) {
			changes = append(changes, "add target "+n)
		}
	}
	for _, n := range old {
		if !slices.Contains(nu, n) {
			changes = append(changes, "remove target "+n)
		}
	}
	if req.DryRun {
		return &pb.ApplyConfigResponse{Changes: changes}, nil
	}
	f.cfg = proto.Clone(req.Config).(*pb.Config)
	return &pb.ApplyConfigResponse{Changes: changes, Applied: true}, nil
}

// Sample returns a small config and session for tests and examples: two targets,
// one with two shared LUNs and one with an initiator's own LUN, and one session.
func Sample() (*pb.Config, []*pb.SessionInfo) {
	cfg := &pb.Config{
		Portals: []string{"127.0.0.1:3260"},
		Targets: []*pb.Target{{
			Name: "iqn.2026-11.dev.atgt:vm1", Alias: "vm1",
			AllowedNetworks: []string{"127.0.0.0/8"},
			Luns: []*pb.Lun{
				{Id: 0, Path: "vm1-root.img", SizeBytes: 10 << 30},
				{Id: 1, Path: "vm1-data.img", SizeBytes: 1 << 30, BlockSize: 4096, Workers: 8},
			},
		}, {
			Name: "iqn.2026-11.dev.atgt:vm2",
			InitiatorLuns: []*pb.InitiatorLuns{{Initiator: "iqn.2026-11.dev.host:vm2",
				Luns: []*pb.Lun{{Id: 0, Path: "vm2-root.img", SizeBytes: 2 << 30, ReadOnly: true}}}},
		}},
	}
	sessions := []*pb.SessionInfo{{
		Initiator: "iqn.2007-10.com.github:sahlberg:libiscsi:iscsi-test", Target: "iqn.2026-11.dev.atgt:vm1",
		Tsih: 1, Isid: "400001370000", Address: "127.0.0.1:51234", Portal: "127.0.0.1:3260",
		Keys:          map[string]string{"HeaderDigest": "None", "DataDigest": "None", "MaxRecvDataSegmentLength": "262144"},
		TasksInFlight: 2, BytesRead: 1 << 20, BytesWritten: 512 << 10, UptimeSeconds: 90,
	}}
	return cfg, sessions
}

// String names the fake in test logs.
func (f *Fake) String() string {
	return fmt.Sprintf("admintest.Fake(%d targets)", len(f.Config().Targets))
}

var _ admin.API = (*Fake)(nil)
