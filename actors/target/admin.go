package target

import (
	"context"
	"encoding/hex"
	"fmt"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"github.com/atgt/atgt/actors/admin"
	"github.com/atgt/atgt/actors/dispatcher"
	"github.com/atgt/atgt/actors/gateway"
	"github.com/atgt/atgt/actors/lun"
	"github.com/atgt/atgt/actors/prcluster"
	"github.com/atgt/atgt/actors/session"
	"github.com/atgt/atgt/backend"
	"github.com/atgt/atgt/backend/faults"
	pb "github.com/atgt/atgt/messages/atgtv1"
)

// The Service is the admin API (admin.API): the reads here, the changes in
// adminchange.go. Every change goes through one lock, so that they apply one at a
// time and each sees the config the one before it left; the reads take only the
// read guard (adminState.mu), which a change holds just while it edits the lists,
// so that they answer during a change's drain or logout grace.

var _ admin.API = (*Service)(nil)

// defaultConfigVersions is how many earlier config files a change keeps.
const defaultConfigVersions = 5

// defaultLogoutGrace is how long a session asked to log out by the administrator has
// before it is closed.
const defaultLogoutGrace = 5 * time.Second

// adminState is what the admin API keeps about the service.
type adminState struct {
	// lock admits one change at a time (a one-slot semaphore, so that a caller
	// waiting for it can give up); stopping, set under it by Shutdown, refuses the
	// changes after.
	lock     chan struct{}
	stopping bool
	// ctx is what a change runs under: not its caller's, so that a change once
	// started finishes (or is undone) whether or not the caller still waits; Shutdown
	// ends it (cancel), and waits for the change in progress.
	ctx    context.Context
	cancel context.CancelFunc
	// mu guards what the reads see (live, luns, served, backends, raw and cfg, the
	// actor system): a change holds it only while it edits them, so that a read
	// never waits for a change's drain or logout grace.
	mu sync.RWMutex
	// raw is the config as the administrator wrote it (no defaults), as saved; cfg
	// is raw with defaults, as served.
	raw, cfg *pb.Config
	// path is the config file changes are written to ("": not saved); versions how
	// many earlier ones are kept.
	path     string
	versions int
	started  time.Time
	wrap     func(target string, lun uint64, b backend.Backend) backend.Backend
	override func(*pb.Config)
}

// liveLUN is a served LUN as the admin API sees it.
type liveLUN struct {
	key dispatcher.Key
	set *targetLUNs
	// cfg is the LUN's config, with defaults.
	cfg *pb.Lun
	// raw is the backend as opened (to resize it); served as the workers use it.
	raw, served backend.Backend
	faults      *faults.Injector
	naa         uint64
	blockSize   uint32
	readOnly    bool
	// pr is the LUN's reservation store shared with other gateways, or nil.
	pr *prcluster.Store
	// gateway carries the LUN's resets to the other gateway nodes; nil: none.
	gateway *gateway.Channel
	// store is the file or block device served, nil for other backends; no two
	// LUNs serve one (servingStore).
	store *backend.StoreID
}

// Status reports what the service serves and since when.
func (s *Service) Status(ctx context.Context, _ *pb.StatusRequest) (*pb.StatusResponse, error) {
	sessions, err := s.sessionList(ctx)
	if err != nil {
		return nil, err
	}
	s.admin.mu.RLock()
	defer s.admin.mu.RUnlock()
	version := "devel"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		version = bi.Main.Version
	}
	return &pb.StatusResponse{Version: version, UptimeSeconds: time.Since(s.admin.started).Seconds(),
		Portals: s.Addrs(), Targets: uint32(len(s.admin.cfg.Targets)), Luns: uint32(len(s.live) + len(s.missing)),
		Sessions: uint32(len(sessions)), ConfigPath: s.admin.path}, nil
}

// ListTargets lists the targets, in config order.
func (s *Service) ListTargets(ctx context.Context, _ *pb.ListTargetsRequest) (*pb.ListTargetsResponse, error) {
	sessions, err := s.sessionList(ctx)
	if err != nil {
		return nil, err
	}
	s.admin.mu.RLock()
	defer s.admin.mu.RUnlock()
	out := &pb.ListTargetsResponse{}
	for _, t := range s.admin.cfg.Targets {
		ti := &pb.TargetInfo{Name: t.Name, Alias: t.Alias, AllowedInitiators: t.AllowedInitiators,
			AllowedNetworks: t.AllowedNetworks, Chap: t.Chap != nil || len(t.InitiatorChap) > 0}
		for _, l := range t.Luns {
			ti.Luns = append(ti.Luns, l.Id)
		}
		for _, il := range t.InitiatorLuns {
			ti.OwnLunsInitiators = append(ti.OwnLunsInitiators, il.Initiator)
		}
		for _, in := range sessions {
			if in.Target == t.Name {
				ti.Sessions++
			}
		}
		out.Targets = append(out.Targets, ti)
	}
	return out, nil
}

// ListLuns lists the LUNs of one target or all, by target, initiator and id.
func (s *Service) ListLuns(_ context.Context, req *pb.ListLunsRequest) (*pb.ListLunsResponse, error) {
	s.admin.mu.RLock()
	defer s.admin.mu.RUnlock()
	if req.Target != "" && s.findTarget(req.Target) == nil {
		return nil, admin.NotFound("target %s: no such target", req.Target)
	}
	out := &pb.ListLunsResponse{}
	for _, l := range s.sortedLive() {
		if req.Target == "" || l.set.name == req.Target {
			info := l.info()
			if !s.metrics.LUN(l.key.Target, l.key.LUN).Online() {
				info.State, info.Reason = lunOffline, "its actor failed too often (see the log); it answers NOT READY until atgtd restarts"
			}
			out.Luns = append(out.Luns, info)
		}
	}
	for _, m := range s.missing {
		if s.live[m.key] != nil {
			continue // coming online: listed as served
		}
		if req.Target == "" || m.set.name == req.Target {
			out.Luns = append(out.Luns, m.info())
		}
	}
	sort.SliceStable(out.Luns, func(i, j int) bool {
		a, b := out.Luns[i], out.Luns[j]
		if a.Target != b.Target {
			return a.Target < b.Target
		}
		if a.Initiator != b.Initiator {
			return a.Initiator < b.Initiator
		}
		return a.Id < b.Id
	})
	return out, nil
}

// The states ListLuns reports (LunInfo.state).
const (
	lunOnline  = "online"
	lunMissing = "missing"
	lunOffline = "offline"
)

// info describes the LUN.
func (l *liveLUN) info() *pb.LunInfo {
	kind := l.cfg.Backend
	if _, dev := l.raw.(backend.BlockSizer); dev && kind == "file" {
		kind = "block" // a "file" LUN on a block device: say which the administrator got
	}
	return &pb.LunInfo{Target: l.set.name, Initiator: l.set.initiator, Id: l.key.LUN, Backend: kind,
		Path: lunPath(l.cfg), SizeBytes: uint64(l.served.Size()), BlockSize: l.blockSize, ReadOnly: l.readOnly,
		Workers: l.cfg.Workers, Faults: uint32(len(l.faults.Faults())), IoPolicy: l.cfg.IoPolicy, State: lunOnline}
}

// info describes a LUN whose store is missing: as configured, with no size.
func (m *missingLUN) info() *pb.LunInfo {
	return &pb.LunInfo{Target: m.set.name, Initiator: m.set.initiator, Id: m.key.LUN, Backend: m.cfg.Backend,
		Path: m.path, BlockSize: m.cfg.BlockSize, ReadOnly: m.cfg.ReadOnly, Workers: m.cfg.Workers,
		Faults: uint32(len(m.cfg.Faults)), IoPolicy: m.cfg.IoPolicy, State: lunMissing,
		Reason: fmt.Sprintf("%s (missing since %s; looked for every %v)", m.reason, m.since.UTC().Format(time.RFC3339),
			lun.DefaultRecheck)}
}

// lunPath names what a LUN stores its blocks in, for people: the file or device,
// or an RBD image as pool/image (pool/namespace/image).
func lunPath(l *pb.Lun) string {
	r := l.GetRbd()
	if r == nil {
		return l.Path
	}
	return strings.Join(slices.DeleteFunc([]string{r.Pool, r.Namespace, r.Image}, func(s string) bool { return s == "" }), "/")
}

// sortedLive returns the served LUNs by target, initiator and id.
func (s *Service) sortedLive() []*liveLUN {
	out := make([]*liveLUN, 0, len(s.live))
	for _, l := range s.live {
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.set.name != b.set.name {
			return a.set.name < b.set.name
		}
		if a.set.initiator != b.set.initiator {
			return a.set.initiator < b.set.initiator
		}
		return a.key.LUN < b.key.LUN
	})
	return out
}

// findTarget returns the served target named name, or nil.
func (s *Service) findTarget(name string) *pb.Target {
	for _, t := range s.admin.cfg.Targets {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// findLUN returns a served LUN: of target's shared LUNs, or of initiator's own.
func (s *Service) findLUN(target, initiator string, id uint64) (*liveLUN, error) {
	if s.findTarget(target) == nil {
		return nil, admin.NotFound("target %s: no such target", target)
	}
	route := target
	if initiator != "" {
		route = dispatcher.RouteName(target, initiator)
	}
	l, ok := s.live[dispatcher.Key{Target: route, LUN: id}]
	if m := s.missing[dispatcher.Key{Target: route, LUN: id}]; !ok && m != nil {
		return nil, admin.Busy("%s: its store %s is missing; it can be changed once it is there, or removed",
			lunLabel(target, initiator, id), m.path)
	}
	if !ok {
		if initiator != "" {
			return nil, admin.NotFound("lun %d of %s for initiator %s: no such LUN", id, target, initiator)
		}
		return nil, admin.NotFound("lun %d of %s: no such LUN", id, target)
	}
	return l, nil
}

// ListSessions lists the logged-in sessions, by TSIH.
func (s *Service) ListSessions(ctx context.Context, req *pb.ListSessionsRequest) (*pb.ListSessionsResponse, error) {
	sessions, err := s.sessionList(ctx)
	if err != nil {
		return nil, err
	}
	out := &pb.ListSessionsResponse{}
	for _, in := range sessions {
		if req.Target != "" && in.Target != req.Target {
			continue
		}
		out.Sessions = append(out.Sessions, &pb.SessionInfo{
			Initiator: in.Initiator, Target: in.Target, Tsih: uint32(in.TSIH), Isid: hex.EncodeToString(in.ISID[:]),
			Address: in.Remote, Portal: in.Local, Keys: in.Keys(),
			TasksInFlight: uint64(max(in.Stats.TasksInFlight.Load(), in.Stats.PeakTasks.Swap(0), 0)), // the most since the last look
			BytesRead:     in.Stats.BytesOut.Load(), BytesWritten: in.Stats.BytesIn.Load(),
			UptimeSeconds: time.Since(in.Since).Seconds(),
		})
	}
	return out, nil
}

// sessionList asks the session manager for the logged-in sessions.
func (s *Service) sessionList(ctx context.Context) ([]*session.Info, error) {
	sys, mgr := s.sessions()
	if mgr == nil {
		return nil, nil
	}
	ch := make(chan []*session.Info, 1)
	sys.Root.Send(mgr, &session.List{Done: func(l []*session.Info) { ch <- l }})
	return wait(ctx, ch, "session list")
}

// sessionManager returns the session manager's PID (nil once stopped).
func (s *Service) sessionManager() *actor.PID {
	_, mgr := s.sessions()
	return mgr
}

// sessions returns the actor system and the session manager's PID, read together
// against a concurrent Shutdown (nil, nil once stopped).
func (s *Service) sessions() (*actor.ActorSystem, *actor.PID) {
	s.admin.mu.RLock()
	defer s.admin.mu.RUnlock()
	if s.system == nil || s.root == nil || s.rootGone.Load() {
		return nil, nil
	}
	return s.system, actor.NewPID(s.system.Address(), s.root.Id+"/"+sessionsName)
}

// adminWait bounds how long an admin call waits for an actor's answer.
const adminWait = 30 * time.Second

// wait receives one answer from ch, or fails when ctx ends or after adminWait.
func wait[T any](ctx context.Context, ch <-chan T, what string) (T, error) {
	var zero T
	select {
	case v := <-ch:
		return v, nil
	case <-ctx.Done():
		return zero, admin.Internal("%s: %v", what, ctx.Err())
	case <-time.After(adminWait):
		return zero, admin.Internal("%s: no answer within %v", what, adminWait)
	}
}

// LogoutSession asks a session's initiator to log out and closes the session if it
// has not after the grace period; it answers once the session has ended.
func (s *Service) LogoutSession(ctx context.Context, req *pb.LogoutSessionRequest) (*pb.LogoutSessionResponse, error) {
	if req.Tsih == 0 || req.Tsih > 0xffff {
		return nil, admin.Invalid("tsih: %d is not a session's TSIH (1..65535)", req.Tsih)
	}
	asked, closed, err := s.logout(ctx, uint16(req.Tsih), "", graceOf(req.GraceSeconds))
	if err != nil {
		return nil, err
	}
	if asked == 0 {
		return nil, admin.NotFound("session %d: no such session", req.Tsih)
	}
	return &pb.LogoutSessionResponse{Closed: closed > 0}, nil
}

// graceOf is a request's grace period: seconds, or the default for 0.
func graceOf(seconds uint32) time.Duration {
	if seconds == 0 {
		return defaultLogoutGrace
	}
	return time.Duration(seconds) * time.Second
}

// logout asks the session with tsih, or every session of target, to log out, and
// waits until they have ended.
func (s *Service) logout(ctx context.Context, tsih uint16, target string, grace time.Duration) (asked, closed int, err error) {
	sys, mgr := s.sessions()
	if mgr == nil {
		return 0, 0, nil
	}
	type result struct{ asked, closed int }
	ch := make(chan result, 1)
	sys.Root.Send(mgr, &session.Logout{TSIH: tsih, Target: target, Within: grace,
		Done: func(a, c int) { ch <- result{a, c} }})
	ctx, cancel := context.WithTimeout(ctx, grace+adminWait)
	defer cancel()
	r, err := wait(ctx, ch, "logout")
	return r.asked, r.closed, err
}

// Stats reports counters per LUN.
func (s *Service) Stats(_ context.Context, req *pb.StatsRequest) (*pb.StatsResponse, error) {
	s.admin.mu.RLock()
	defer s.admin.mu.RUnlock()
	if req.Target != "" && s.findTarget(req.Target) == nil {
		return nil, admin.NotFound("target %s: no such target", req.Target)
	}
	out := &pb.StatsResponse{}
	for _, l := range s.sortedLive() {
		if req.Target != "" && l.set.name != req.Target {
			continue
		}
		st := &pb.LunStats{Target: l.set.name, Initiator: l.set.initiator, Id: l.key.LUN}
		for _, n := range l.faults.Fired() {
			st.FaultsFired += n
		}
		s.lunStats(l, st)
		out.Luns = append(out.Luns, st)
	}
	return out, nil
}

// GetConfig returns the config as served and saved (as the administrator wrote it,
// changes included), with CHAP secrets left out: ApplyConfig keeps a secret that is
// left out.
func (s *Service) GetConfig(context.Context, *pb.GetConfigRequest) (*pb.GetConfigResponse, error) {
	s.admin.mu.RLock()
	defer s.admin.mu.RUnlock()
	cfg := proto.Clone(s.admin.raw).(*pb.Config)
	for _, pair := range chapPairs(cfg) {
		for _, c := range pair {
			if c.chap != nil && c.chap.Secret != "" {
				c.chap.Secret = ""
			}
		}
	}
	return &pb.GetConfigResponse{Config: cfg}, nil
}

// lunLabel names a LUN in the config's terms, for errors.
func lunLabel(target, initiator string, id uint64) string {
	if initiator != "" {
		return fmt.Sprintf("lun %d of %s for initiator %s", id, target, initiator)
	}
	return fmt.Sprintf("lun %d of %s", id, target)
}
