package inprocess

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/hashicorp/go-hclog"
	"google.golang.org/protobuf/proto"

	"github.com/atgt/atgt/actors/target"
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/messages/scsi"
	"github.com/atgt/atgt/tests/initiator"
)

// adminConfig is one target with one file LUN, its config saved at path.
func adminConfig(t *testing.T) (*pb.Config, string) {
	dir := t.TempDir()
	cfg := &pb.Config{
		Portals: []string{"127.0.0.1:0"},
		DataDir: dir,
		Targets: []*pb.Target{{Name: targetName, Luns: []*pb.Lun{{Id: 0, Path: "lun0.img", SizeBytes: lunSize}}}},
	}
	return cfg, filepath.Join(dir, "atgt.json")
}

// codeOf is the admin error's code (0 for nil or a plain error).
func codeOf(err error) connect.Code {
	var ce *connect.Error
	if errors.As(err, &ce) {
		return ce.Code()
	}
	return 0
}

// TestAdminAddLunLive: a LUN added while a session is logged in is served at once;
// the session's next command on an existing LUN reports REPORTED LUNS DATA HAS
// CHANGED (06/3F/0E), REPORT LUNS then lists it, and IO to it works. A second add of
// the same id, or to a target that does not exist, is refused naming the object.
func TestAdminAddLunLive(t *testing.T) {
	cfg, path := adminConfig(t)
	svc := startWith(t, cfg, target.Options{ConfigPath: path})
	s := dial(t, svc.Addrs()[0], initiator.Options{})
	ready(t, s, 0)
	ctx := context.Background()
	res, err := svc.AddLun(ctx, &pb.AddLunRequest{Target: targetName, Lun: &pb.Lun{Id: 3, Path: "lun3.img", SizeBytes: 2 * lunSize}})
	if err != nil {
		t.Fatalf("AddLun: %v", err)
	}
	if res.Lun.Id != 3 || res.Lun.SizeBytes != 2*lunSize || res.Lun.Path != filepath.Join(cfg.DataDir, "lun3.img") {
		t.Fatalf("AddLun answered %v", res.Lun)
	}
	err = s.TestUnitReady(0)
	expectSense(t, "TEST UNIT READY after the add", err, scsi.SenseUnitAttention, 0x3F)
	luns, err := s.ReportLUNs(0)
	if err != nil || !slices.Equal(luns, []uint64{0, 3}) {
		t.Fatalf("REPORT LUNS = %v, %v; want [0 3]", luns, err)
	}
	ready(t, s, 3)
	data := randomData(3, 8*blockSize)
	if err := s.Write(3, 100, data, blockSize, false); err != nil {
		t.Fatalf("write to the new LUN: %v", err)
	}
	got, err := s.Read(3, 100, 8, blockSize)
	if err != nil || !slices.Equal(got, data) {
		t.Fatalf("read back from the new LUN: %v", err)
	}
	if blocks, _, err := s.ReadCapacity16(3); err != nil || blocks != 2*lunSize/blockSize {
		t.Fatalf("READ CAPACITY(16) of the new LUN = %d, %v", blocks, err)
	}
	_, err = svc.AddLun(ctx, &pb.AddLunRequest{Target: targetName, Lun: &pb.Lun{Id: 3, Path: "other.img", SizeBytes: lunSize}})
	if codeOf(err) != connect.CodeAlreadyExists {
		t.Fatalf("second AddLun of id 3: %v, want already exists", err)
	}
	_, err = svc.AddLun(ctx, &pb.AddLunRequest{Target: "iqn.2026-11.dev.atgt:nope", Lun: &pb.Lun{Id: 1, Path: "x.img", SizeBytes: lunSize}})
	if codeOf(err) != connect.CodeNotFound {
		t.Fatalf("AddLun to a missing target: %v, want not found", err)
	}
	_, err = svc.AddLun(ctx, &pb.AddLunRequest{Target: targetName, Lun: &pb.Lun{Id: 4, Path: "lun4.img", SizeBytes: lunSize, BlockSize: 1000}})
	if codeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), "targets[0].luns[2].blockSize") {
		t.Fatalf("AddLun with a bad block size: %v, want invalid naming targets[0].luns[2].blockSize", err)
	}
}

// TestAdminResizeLive: growing a LUN while a session is logged in raises CAPACITY
// DATA HAS CHANGED (06/2A/09) and READ CAPACITY then reports the new size; the file
// grows; data written before the resize reads back. A smaller size is refused without
// shrink and applied with it.
func TestAdminResizeLive(t *testing.T) {
	cfg, path := adminConfig(t)
	svc := startWith(t, cfg, target.Options{ConfigPath: path})
	s := dial(t, svc.Addrs()[0], initiator.Options{})
	ready(t, s, 0)
	data := randomData(7, 4*blockSize)
	if err := s.Write(0, 10, data, blockSize, false); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	r, err := svc.ResizeLun(ctx, &pb.ResizeLunRequest{Target: targetName, Id: 0, SizeBytes: 2 * lunSize})
	if err != nil || r.OldSizeBytes != lunSize || r.SizeBytes != 2*lunSize {
		t.Fatalf("ResizeLun: %v, %v", r, err)
	}
	_, _, err = s.ReadCapacity16(0)
	expectSense(t, "READ CAPACITY after the resize", err, scsi.SenseUnitAttention, 0x2A)
	blocks, _, err := s.ReadCapacity16(0)
	if err != nil || blocks != 2*lunSize/blockSize {
		t.Fatalf("READ CAPACITY(16) = %d blocks, %v; want %d", blocks, err, 2*lunSize/blockSize)
	}
	if fi, err := os.Stat(filepath.Join(cfg.DataDir, "lun0.img")); err != nil || fi.Size() != 2*lunSize {
		t.Fatalf("backing file after the resize: %v, %v", fi, err)
	}
	last := uint64(2*lunSize/blockSize - 1)
	if err := s.Write(0, last, data[:blockSize], blockSize, false); err != nil {
		t.Fatalf("write to the last block of the grown LUN: %v", err)
	}
	if got, err := s.Read(0, 10, 4, blockSize); err != nil || !slices.Equal(got, data) {
		t.Fatalf("data written before the resize: %v", err)
	}
	_, err = svc.ResizeLun(ctx, &pb.ResizeLunRequest{Target: targetName, Id: 0, SizeBytes: lunSize})
	if codeOf(err) != connect.CodeFailedPrecondition {
		t.Fatalf("shrink without shrink: %v, want refused", err)
	}
	if _, err := svc.ResizeLun(ctx, &pb.ResizeLunRequest{Target: targetName, Id: 0, SizeBytes: lunSize, Shrink: true}); err != nil {
		t.Fatalf("shrink: %v", err)
	}
	_, _, err = s.ReadCapacity16(0)
	expectSense(t, "READ CAPACITY after the shrink", err, scsi.SenseUnitAttention, 0x2A)
	if blocks, _, err := s.ReadCapacity16(0); err != nil || blocks != lunSize/blockSize {
		t.Fatalf("READ CAPACITY(16) after the shrink = %d, %v", blocks, err)
	}
	_, err = s.Read(0, last, 1, blockSize)
	expectSense(t, "read past the new end", err, scsi.SenseIllegalRequest, 0x21)
}

// TestAdminRemoveLun: a LUN holding a task is not removed without force; with force
// it drains (the held call finishes and is answered), then commands to it are
// answered LOGICAL UNIT NOT SUPPORTED and REPORT LUNS no longer lists it; the other
// LUN's nexus gets REPORTED LUNS DATA HAS CHANGED.
func TestAdminRemoveLun(t *testing.T) {
	cfg, path := adminConfig(t)
	cfg.Targets[0].Luns = append(cfg.Targets[0].Luns, &pb.Lun{Id: 1, Path: "lun1.img", SizeBytes: lunSize})
	svc := startWith(t, cfg, target.Options{ConfigPath: path})
	s := dial(t, svc.Addrs()[0], initiator.Options{})
	ready(t, s, 0)
	ready(t, s, 1)
	ctx := context.Background()
	// A read of LUN 1 held for a second by an injected delay.
	if _, err := svc.SetFaults(ctx, &pb.SetFaultsRequest{Target: targetName, Id: 1,
		Faults: []*pb.Fault{{Op: "read", Kind: "delay", DelayMs: 1500}}}); err != nil {
		t.Fatalf("SetFaults: %v", err)
	}
	task := s.Submit(1, read16(0, 1), nil, blockSize)
	time.Sleep(200 * time.Millisecond)
	_, err := svc.RemoveLun(ctx, &pb.RemoveLunRequest{Target: targetName, Id: 1})
	if codeOf(err) != connect.CodeFailedPrecondition || !strings.Contains(err.Error(), "lun 1 of "+targetName) {
		t.Fatalf("RemoveLun of a busy LUN: %v, want refused naming it", err)
	}
	start := time.Now()
	if _, err := svc.RemoveLun(ctx, &pb.RemoveLunRequest{Target: targetName, Id: 1, Force: true}); err != nil {
		t.Fatalf("forced RemoveLun: %v", err)
	}
	if res, err := task.Wait(); err != nil || res.Status != scsi.StatusGood {
		t.Fatalf("the held read after the drain: %v, %v", res, err)
	}
	if time.Since(start) < 500*time.Millisecond {
		t.Fatalf("the forced removal did not wait for the held read")
	}
	_, err = s.Read(1, 0, 1, blockSize)
	expectSense(t, "read of the removed LUN", err, scsi.SenseIllegalRequest, 0x25)
	if svc.Metrics().LUN(targetName, 1) != nil {
		t.Fatal("the removed LUN's metrics are still scraped")
	}
	// REPORT LUNS reports no unit attention and clears REPORTED LUNS DATA HAS
	// CHANGED (SPC-4 6.33), so the next command finds none.
	if luns, err := s.ReportLUNs(0); err != nil || !slices.Equal(luns, []uint64{0}) {
		t.Fatalf("REPORT LUNS = %v, %v; want [0]", luns, err)
	}
	if err := s.TestUnitReady(0); err != nil {
		t.Fatalf("TEST UNIT READY after REPORT LUNS: %v, want the unit attention cleared", err)
	}
	_, err = svc.RemoveLun(ctx, &pb.RemoveLunRequest{Target: targetName, Id: 1})
	if codeOf(err) != connect.CodeNotFound {
		t.Fatalf("second RemoveLun: %v, want not found", err)
	}
}

// TestAdminConfigPersists: changes are written to the config file atomically with the
// earlier versions kept; a restart from the file serves the same LUNs and access
// lists; applying the saved config is a no-op, and applying it twice changes nothing
// the second time.
func TestAdminConfigPersists(t *testing.T) {
	cfg, path := adminConfig(t)
	ctx := context.Background()
	svc, err := target.StartWith(cfg, hclog.NewNullLogger(), target.Options{ConfigPath: path})
	if err != nil {
		t.Fatal(err)
	}
	steps := []func() error{
		func() error {
			_, err := svc.AddLun(ctx, &pb.AddLunRequest{Target: targetName, Lun: &pb.Lun{Id: 2, Path: "lun2.img", SizeBytes: lunSize}})
			return err
		},
		func() error {
			_, err := svc.ResizeLun(ctx, &pb.ResizeLunRequest{Target: targetName, Id: 2, SizeBytes: 2 * lunSize})
			return err
		},
		func() error {
			_, err := svc.AddAcl(ctx, &pb.AddAclRequest{Target: targetName, Initiator: initiatorName, Network: "127.0.0.0/8"})
			return err
		},
		func() error {
			_, err := svc.AddTarget(ctx, &pb.AddTargetRequest{Target: &pb.Target{Name: targetName + "-b",
				Luns: []*pb.Lun{{Id: 0, Backend: "memory", SizeBytes: lunSize}}}})
			return err
		},
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	for _, v := range []string{path, path + ".1", path + ".3"} {
		if _, err := os.Stat(v); err != nil {
			t.Fatalf("config version %s: %v", v, err)
		}
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("config file mode %04o, want 0600", fi.Mode().Perm())
	}
	want, err := svc.ListLuns(ctx, &pb.ListLunsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	saved, err := target.LoadConfig(path)
	if err != nil {
		t.Fatalf("load the saved config: %v", err)
	}
	svc2 := startWith(t, saved, target.Options{ConfigPath: path})
	got, err := svc2.ListLuns(ctx, &pb.ListLunsRequest{})
	if err != nil || !proto.Equal(got, want) {
		t.Fatalf("after the restart:\n got %v\nwant %v (%v)", got, want, err)
	}
	if tl, _ := svc2.ListTargets(ctx, &pb.ListTargetsRequest{}); len(tl.Targets) != 2 ||
		!slices.Equal(tl.Targets[0].AllowedNetworks, []string{"127.0.0.0/8"}) {
		t.Fatalf("targets after the restart: %v", tl)
	}
	for i := range 2 {
		r, err := svc2.ApplyConfig(ctx, &pb.ApplyConfigRequest{Config: saved})
		if err != nil || len(r.Changes) != 0 || r.Applied {
			t.Fatalf("apply of the saved config #%d: %v, %v; want no change", i+1, r, err)
		}
	}
	// A real change, applied twice: the second application changes nothing.
	next := proto.Clone(saved).(*pb.Config)
	next.Targets[0].Luns = next.Targets[0].Luns[:1]
	dry, err := svc2.ApplyConfig(ctx, &pb.ApplyConfigRequest{Config: next, DryRun: true})
	if err != nil || dry.Applied || len(dry.Changes) != 1 || dry.Changes[0] != "remove lun 2 of "+targetName {
		t.Fatalf("dry run: %v, %v", dry, err)
	}
	if l, _ := svc2.ListLuns(ctx, &pb.ListLunsRequest{Target: targetName}); len(l.Luns) != 2 {
		t.Fatalf("the dry run changed the LUNs: %v", l)
	}
	r1, err := svc2.ApplyConfig(ctx, &pb.ApplyConfigRequest{Config: next})
	if err != nil || !r1.Applied || len(r1.Changes) != 1 {
		t.Fatalf("apply: %v, %v", r1, err)
	}
	r2, err := svc2.ApplyConfig(ctx, &pb.ApplyConfigRequest{Config: next})
	if err != nil || r2.Applied || len(r2.Changes) != 0 {
		t.Fatalf("second apply: %v, %v; want no change", r2, err)
	}
	// What needs a restart is refused whole, naming the field.
	bad := proto.Clone(next).(*pb.Config)
	bad.QueueDepth = 7
	if _, err := svc2.ApplyConfig(ctx, &pb.ApplyConfigRequest{Config: bad}); codeOf(err) != connect.CodeFailedPrecondition ||
		!strings.Contains(err.Error(), "queueDepth") {
		t.Fatalf("apply with a new queue depth: %v, want refused naming queueDepth", err)
	}
}

// TestAdminSessionsAndLogout: the session list shows the logged-in session with its
// initiator, TSIH, negotiated keys and bytes moved; LogoutSession sends it an
// Asynchronous Message (AsyncEvent 1) and, as this initiator does not log out, closes
// it after the grace period.
func TestAdminSessionsAndLogout(t *testing.T) {
	cfg, path := adminConfig(t)
	svc := startWith(t, cfg, target.Options{ConfigPath: path})
	s := dial(t, svc.Addrs()[0], initiator.Options{})
	ready(t, s, 0)
	if _, err := s.Read(0, 0, 16, blockSize); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	l, err := svc.ListSessions(ctx, &pb.ListSessionsRequest{})
	if err != nil || len(l.Sessions) != 1 {
		t.Fatalf("ListSessions: %v, %v", l, err)
	}
	in := l.Sessions[0]
	if in.Initiator != initiatorName || in.Target != targetName || in.Tsih == 0 || in.Keys["MaxBurstLength"] == "" ||
		in.BytesRead < 16*blockSize || in.Address == "" {
		t.Fatalf("session: %v", in)
	}
	// In flight is the most at once since the last look: the read, then none.
	st, err := svc.Stats(ctx, &pb.StatsRequest{Target: targetName})
	if err != nil || len(st.Luns) != 1 || st.Luns[0].Reads < 1 || st.Luns[0].BytesRead < 16*blockSize || st.Luns[0].TasksInFlight > 1 {
		t.Fatalf("Stats: %v, %v", st, err)
	}
	if st, err = svc.Stats(ctx, &pb.StatsRequest{Target: targetName}); err != nil || st.Luns[0].TasksInFlight != 0 {
		t.Fatalf("Stats again: %v, %v; want no task in flight", st, err)
	}
	start := time.Now()
	r, err := svc.LogoutSession(ctx, &pb.LogoutSessionRequest{Tsih: in.Tsih, GraceSeconds: 1})
	if err != nil || !r.Closed {
		t.Fatalf("LogoutSession: %v, %v; want closed after the grace", r, err)
	}
	if d := time.Since(start); d < time.Second || d > 5*time.Second {
		t.Fatalf("LogoutSession took %v, want about the 1 s grace", d)
	}
	select {
	case ev := <-s.Async:
		if ev.Event != 1 || ev.Parameter3 != 1 {
			t.Fatalf("async message %+v, want event 1 within 1 s", ev)
		}
	default:
		t.Fatal("no Asynchronous Message arrived")
	}
	select {
	case <-s.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the session was not closed")
	}
	if _, err := svc.LogoutSession(ctx, &pb.LogoutSessionRequest{Tsih: in.Tsih}); codeOf(err) != connect.CodeNotFound {
		t.Fatalf("LogoutSession of an ended session: %v, want not found", err)
	}
}

// TestAdminAclLive: removing the last initiator of an access list refuses the next
// login at once; adding it back admits it again.
func TestAdminAclLive(t *testing.T) {
	cfg, path := adminConfig(t)
	cfg.Targets[0].AllowedInitiators = []string{initiatorName, "iqn.2026-11.dev.atgt:other"}
	svc := startWith(t, cfg, target.Options{ConfigPath: path})
	ctx := context.Background()
	if _, err := svc.RemoveAcl(ctx, &pb.RemoveAclRequest{Target: targetName, Initiator: initiatorName}); err != nil {
		t.Fatal(err)
	}
	if s, err := initiator.Dial(svc.Addrs()[0], initiator.Options{InitiatorName: initiatorName, TargetName: targetName,
		Timeout: 5 * time.Second}); err == nil {
		s.Close()
		t.Fatal("login allowed after the initiator was removed from the access list")
	}
	if _, err := svc.AddAcl(ctx, &pb.AddAclRequest{Target: targetName, Initiator: initiatorName}); err != nil {
		t.Fatal(err)
	}
	s := dial(t, svc.Addrs()[0], initiator.Options{})
	ready(t, s, 0)
	if _, err := svc.AddAcl(ctx, &pb.AddAclRequest{Target: targetName, Network: "not-a-network"}); codeOf(err) != connect.CodeInvalidArgument {
		t.Fatalf("AddAcl of a bad network: %v", err)
	}
}

// TestAdminInitiatorLuns: a LUN added for an initiator that has none of its own yet
// gives it its own set: at its next login it sees that LUN, others still the shared
// ones; removing its last own LUN gives it the shared ones back.
func TestAdminInitiatorLuns(t *testing.T) {
	cfg, path := adminConfig(t)
	svc := startWith(t, cfg, target.Options{ConfigPath: path})
	ctx := context.Background()
	own := "iqn.2026-11.dev.atgt:own"
	if _, err := svc.AddLun(ctx, &pb.AddLunRequest{Target: targetName, Initiator: own,
		Lun: &pb.Lun{Id: 5, Path: "own5.img", SizeBytes: lunSize}}); err != nil {
		t.Fatalf("AddLun for an initiator: %v", err)
	}
	s := dial(t, svc.Addrs()[0], initiator.Options{InitiatorName: own})
	if luns, err := s.ReportLUNs(5); err != nil || !slices.Equal(luns, []uint64{5}) {
		t.Fatalf("the initiator's REPORT LUNS = %v, %v; want [5]", luns, err)
	}
	other := dial(t, svc.Addrs()[0], initiator.Options{ISID: isid(2)})
	if luns, err := other.ReportLUNs(0); err != nil || !slices.Equal(luns, []uint64{0}) {
		t.Fatalf("another initiator's REPORT LUNS = %v, %v; want [0]", luns, err)
	}
	l, err := svc.ListLuns(ctx, &pb.ListLunsRequest{Target: targetName})
	if err != nil || len(l.Luns) != 2 || l.Luns[1].Initiator != own || l.Luns[1].Id != 5 {
		t.Fatalf("ListLuns: %v, %v", l, err)
	}
}
