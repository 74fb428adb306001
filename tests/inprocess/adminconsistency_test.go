package inprocess

// Live reconfiguration keeps the served state, the admin answers and the saved
// config in step: a change once started finishes or is undone whatever its caller
// does, a change that fails part way changes nothing, a stop waits for the change in
// progress, and a LUN re-added at a removed one's id starts without its state.

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/protobuf/proto"

	"github.com/atgt/atgt/actors/target"
	"github.com/atgt/atgt/backend"
	pb "github.com/atgt/atgt/messages/atgtv1"
	"github.com/atgt/atgt/tests/initiator"
)

// A LUN removed and added again with the same id (on another file) must not load
// the removed LUN's persisted reservation; the old state is kept aside.
func TestAdminReaddedLUNStartsWithoutReservation(t *testing.T) {
	cfg, path := adminConfig(t)
	cfg.Targets[0].Luns = append(cfg.Targets[0].Luns, &pb.Lun{Id: 1, Path: "old.img", SizeBytes: lunSize})
	svc := startWith(t, cfg, target.Options{ConfigPath: path})
	ctx := context.Background()
	a := dial(t, svc.Addrs()[0], initiator.Options{ISID: isid(1)})
	ready(t, a, 1)
	cdb, params := prOut(0x00, 0, 0, 0xA) // REGISTER key A
	params[20] = 0x01                     // APTPL
	if st := statusPastUA(t, a, 1, cdb, params); st != 0 {
		t.Fatalf("REGISTER: status %#x", st)
	}
	cdb, params = prOut(0x01, 0x01, 0xA, 0) // RESERVE Write Exclusive
	if st := statusPastUA(t, a, 1, cdb, params); st != 0 {
		t.Fatalf("RESERVE: status %#x", st)
	}
	a.Close()
	if _, err := svc.RemoveLun(ctx, &pb.RemoveLunRequest{Target: targetName, Id: 1, Force: true}); err != nil {
		t.Fatalf("RemoveLun: %v", err)
	}
	aside, _ := filepath.Glob(filepath.Join(cfg.DataDir, "*-lun1.pr.json.removed-*"))
	if len(aside) != 1 {
		t.Errorf("the removed LUN's reservation file was not set aside: %v", aside)
	}
	if _, err := svc.AddLun(ctx, &pb.AddLunRequest{Target: targetName, Lun: &pb.Lun{Id: 1, Path: "brand-new.img", SizeBytes: lunSize}}); err != nil {
		t.Fatalf("AddLun: %v", err)
	}
	b := dial(t, svc.Addrs()[0], initiator.Options{InitiatorName: "iqn.2026-11.dev.atgt:other", ISID: isid(2)})
	if st := statusPastUA(t, b, 1, write16(0, 1), make([]byte, blockSize)); st != 0 {
		t.Fatalf("a write to the brand-new LUN 1 got status %#x (0x18: the removed LUN's reservation)", st)
	}
}

// lunGone waits until LUN id (on lun1.img) of the test target is gone from `luns`
// and the saved file, then checks that REPORT LUNS and `config show` agree.
func lunGone(t *testing.T, svc *target.Service, s *initiator.Session, path string, id uint64) {
	t.Helper()
	bg := context.Background()
	deadline := time.Now().Add(15 * time.Second)
	for {
		lr, err := svc.ListLuns(bg, &pb.ListLunsRequest{})
		if err != nil {
			t.Fatalf("ListLuns: %v", err)
		}
		saved, _ := os.ReadFile(path) // written last
		if !slices.ContainsFunc(lr.GetLuns(), func(l *pb.LunInfo) bool { return l.Id == id }) &&
			!strings.Contains(string(saved), "lun1.img") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("LUN %d still listed 15 s after its removal began", id)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if reported, err := s.ReportLUNs(0); err != nil || slices.Contains(reported, id) {
		t.Errorf("REPORT LUNS after the removal: %v, %v", reported, err)
	}
	gc, err := svc.GetConfig(bg, &pb.GetConfigRequest{})
	if err != nil || slices.ContainsFunc(gc.GetConfig().Targets[0].Luns, func(l *pb.Lun) bool { return l.Id == id }) {
		t.Errorf("config show after the removal still has LUN %d (%v)", id, err)
	}
}

// A forced removal whose caller stops waiting (atgtctl's Ctrl-C or -timeout) goes on
// and ends consistently: not a LUN listed everywhere and answering nothing.
func TestAdminCancelledForcedRemoveFinishes(t *testing.T) {
	cfg, path := adminConfig(t)
	cfg.Targets[0].Luns = append(cfg.Targets[0].Luns, &pb.Lun{Id: 1, Path: "lun1.img", SizeBytes: lunSize})
	svc := startWith(t, cfg, target.Options{ConfigPath: path})
	s := dial(t, svc.Addrs()[0], initiator.Options{})
	ready(t, s, 0)
	ready(t, s, 1)
	bg := context.Background()
	if _, err := svc.SetFaults(bg, &pb.SetFaultsRequest{Target: targetName, Id: 1,
		Faults: []*pb.Fault{{Op: "read", Kind: "delay", DelayMs: 1500}}}); err != nil {
		t.Fatalf("SetFaults: %v", err)
	}
	task := s.Submit(1, read16(0, 1), nil, blockSize)
	time.Sleep(200 * time.Millisecond)
	ctx, cancel := context.WithTimeout(bg, 300*time.Millisecond) // the client gives up
	_, err := svc.RemoveLun(ctx, &pb.RemoveLunRequest{Target: targetName, Id: 1, Force: true})
	cancel()
	if err == nil || !strings.Contains(err.Error(), "still in progress") {
		t.Fatalf("RemoveLun whose caller gave up: %v, want \"still in progress\"", err)
	}
	task.Wait()
	lunGone(t, svc, s, path, 1)
}

// With the default io_timeout, a forced removal of a LUN whose backend call hangs
// waits for the call to be abandoned (30 to 37.5 s), then for the LUN actor to stop
// (until the call returns at 45 s here, at most 10 s), and succeeds.
func TestAdminForcedRemoveOfHungLUN(t *testing.T) {
	cfg, path := adminConfig(t)
	cfg.Targets[0].Luns = append(cfg.Targets[0].Luns, &pb.Lun{Id: 1, Path: "lun1.img", SizeBytes: lunSize})
	svc := startWith(t, cfg, target.Options{ConfigPath: path})
	s := dial(t, svc.Addrs()[0], initiator.Options{Timeout: 60 * time.Second})
	ready(t, s, 1)
	bg := context.Background()
	if _, err := svc.SetFaults(bg, &pb.SetFaultsRequest{Target: targetName, Id: 1,
		Faults: []*pb.Fault{{Op: "read", Kind: "delay", DelayMs: 45000}}}); err != nil {
		t.Fatalf("SetFaults: %v", err)
	}
	task := s.Submit(1, read16(0, 1), nil, blockSize)
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	r, err := svc.RemoveLun(bg, &pb.RemoveLunRequest{Target: targetName, Id: 1, Force: true})
	t.Logf("RemoveLun after %v: %v", time.Since(start).Round(time.Second), err)
	task.Wait()
	if err != nil {
		t.Fatalf("forced removal of a LUN with a hung call failed with default settings: %v", err)
	}
	if r.DrainedTasks != 1 {
		t.Errorf("drained tasks: %d, want 1", r.DrainedTasks)
	}
	lunGone(t, svc, s, path, 1)
}

// A forced removal of a LUN whose disk hangs (reads and flushes alike) ends: the
// hung READ is abandoned after ioTimeout, and the removal's flush, which cannot
// finish, is given up after ioTimeout too. The LUN is removed, the change says its
// flush did not finish (its acknowledged writes may be lost), and the next admin
// change is not held up behind it.
func TestAdminForcedRemoveOfHungDisk(t *testing.T) {
	cfg, path := adminConfig(t)
	timeout := 1.0
	cfg.Targets[0].Luns = append(cfg.Targets[0].Luns, &pb.Lun{Id: 1, Path: "lun1.img", SizeBytes: lunSize, IoTimeout: &timeout})
	svc := startWith(t, cfg, target.Options{ConfigPath: path})
	s := dial(t, svc.Addrs()[0], initiator.Options{Timeout: 60 * time.Second})
	ready(t, s, 1)
	bg := context.Background()
	// The READ's hang ends after 15 s (the LUN actor stops only once it returns);
	// the flush's outlasts the test.
	if _, err := svc.SetFaults(bg, &pb.SetFaultsRequest{Target: targetName, Id: 1, Faults: []*pb.Fault{
		{Op: "read", Kind: "delay", DelayMs: 15000}, {Op: "sync", Kind: "delay", DelayMs: 600000}}}); err != nil {
		t.Fatalf("SetFaults: %v", err)
	}
	task := s.Submit(1, read16(0, 1), nil, blockSize)
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	ctx, cancel := context.WithTimeout(bg, 40*time.Second)
	defer cancel()
	_, err := svc.RemoveLun(ctx, &pb.RemoveLunRequest{Target: targetName, Id: 1, Force: true})
	took := time.Since(start)
	t.Logf("RemoveLun after %v: %v", took.Round(100*time.Millisecond), err)
	task.Wait()
	if err == nil || !strings.Contains(err.Error(), "flush") || !strings.Contains(err.Error(), "did not finish") {
		t.Fatalf("RemoveLun: %v; want an error saying the flush did not finish", err)
	}
	// Abandoning the READ (1.25 s), the LUN actor's stop (at most 10 s while the
	// READ hangs) and the flush (1 s): well within 20 s.
	if took > 20*time.Second {
		t.Errorf("RemoveLun took %v", took)
	}
	lunGone(t, svc, s, path, 1)
	// The next change is not held up.
	ctx2, cancel2 := context.WithTimeout(bg, 5*time.Second)
	defer cancel2()
	if _, err := svc.AddLun(ctx2, &pb.AddLunRequest{Target: targetName, Lun: &pb.Lun{Id: 2, Path: "lun2.img", SizeBytes: lunSize}}); err != nil {
		t.Fatalf("AddLun after the removal: %v", err)
	}
}

// A config apply that removes LUN 1 and then cannot grow LUN 0 (past the file
// system's limit) changes nothing, and its error names the field.
func TestAdminFailedApplyChangesNothing(t *testing.T) {
	cfg, path := adminConfig(t)
	cfg.Targets[0].Luns = append(cfg.Targets[0].Luns, &pb.Lun{Id: 1, Path: "lun1.img", SizeBytes: lunSize})
	svc := startWith(t, cfg, target.Options{ConfigPath: path})
	ctx := context.Background()
	next := proto.Clone(cfg).(*pb.Config)
	next.Targets[0].Luns = next.Targets[0].Luns[:1]
	next.Targets[0].Luns[0].SizeBytes = 1 << 50 // 1 PiB: over ext4's (and tmpfs's) file size limit
	_, err := svc.ApplyConfig(ctx, &pb.ApplyConfigRequest{Config: next})
	if err == nil || !strings.Contains(err.Error(), "luns[0].sizeBytes") {
		t.Fatalf("ApplyConfig: %v, want an error naming luns[0].sizeBytes", err)
	}
	lr, _ := svc.ListLuns(ctx, &pb.ListLunsRequest{})
	served := slices.ContainsFunc(lr.GetLuns(), func(l *pb.LunInfo) bool { return l.Id == 1 })
	gc, _ := svc.GetConfig(ctx, &pb.GetConfigRequest{})
	inConfig := slices.ContainsFunc(gc.GetConfig().Targets[0].Luns, func(l *pb.Lun) bool { return l.Id == 1 })
	if !served || !inConfig {
		t.Fatalf("after the failed apply LUN 1 is served=%v, in the config=%v; want both", served, inConfig)
	}
	s := dial(t, svc.Addrs()[0], initiator.Options{})
	ready(t, s, 1) // it serves
	if _, err := svc.RemoveLun(ctx, &pb.RemoveLunRequest{Target: targetName, Id: 1, Force: true}); err != nil {
		t.Fatalf("lun rm after the failed apply: %v", err)
	}
}

// A size of 2^63 bytes or more is refused naming size_bytes, with or without
// shrink, and the LUN's capacity stays.
func TestAdminResizeHugeRefused(t *testing.T) {
	cfg, path := adminConfig(t)
	svc := startWith(t, cfg, target.Options{ConfigPath: path})
	s := dial(t, svc.Addrs()[0], initiator.Options{})
	ready(t, s, 0)
	ctx := context.Background()
	for _, shrink := range []bool{false, true} {
		_, err := svc.ResizeLun(ctx, &pb.ResizeLunRequest{Target: targetName, Id: 0, SizeBytes: 1 << 63, Shrink: shrink})
		if err == nil || !strings.Contains(err.Error(), "sizeBytes") || strings.Contains(err.Error(), "-9223372036854775808") {
			t.Errorf("resize to 2^63 (shrink %v): %v, want a refusal naming sizeBytes", shrink, err)
		}
	}
	next := proto.Clone(cfg).(*pb.Config)
	next.Targets[0].Luns[0].SizeBytes = 1 << 63
	if _, err := svc.ApplyConfig(ctx, &pb.ApplyConfigRequest{Config: next}); err == nil || !strings.Contains(err.Error(), "luns[0].sizeBytes") {
		t.Errorf("apply with sizeBytes 2^63: %v, want a refusal naming luns[0].sizeBytes", err)
	}
	blocks, _, err := s.ReadCapacity16(0)
	if err != nil {
		blocks, _, err = s.ReadCapacity16(0) // past a unit attention
	}
	if err != nil || blocks != lunSize/blockSize {
		t.Fatalf("after refused resizes the LUN reports %d blocks (%v), want %d", blocks, err, lunSize/blockSize)
	}
}

// Shutdown during a forced removal waits for the change: the removal either
// happened or was undone, and the LUN list agrees; under -race (make race) the race
// detector fails it when the two touch the service's lists together.
func TestAdminShutdownDuringRemove(t *testing.T) {
	cfg, path := adminConfig(t)
	cfg.Targets[0].Luns = append(cfg.Targets[0].Luns, &pb.Lun{Id: 1, Path: "lun1.img", SizeBytes: lunSize})
	svc, err := target.StartWith(cfg, hclogNull(), target.Options{ConfigPath: path})
	if err != nil {
		t.Fatal(err)
	}
	s := dial(t, svc.Addrs()[0], initiator.Options{})
	ready(t, s, 1)
	bg := context.Background()
	if _, err := svc.SetFaults(bg, &pb.SetFaultsRequest{Target: targetName, Id: 1,
		Faults: []*pb.Fault{{Op: "read", Kind: "delay", DelayMs: 800}}}); err != nil {
		t.Fatal(err)
	}
	s.Submit(1, read16(0, 1), nil, blockSize)
	time.Sleep(100 * time.Millisecond)
	done := make(chan error, 1)
	go func() {
		_, err := svc.RemoveLun(bg, &pb.RemoveLunRequest{Target: targetName, Id: 1, Force: true})
		done <- err
	}()
	time.Sleep(100 * time.Millisecond)
	if err := svc.Shutdown(500 * time.Millisecond); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	var removeErr error
	select {
	case removeErr = <-done:
		t.Logf("RemoveLun: %v", removeErr)
	case <-time.After(10 * time.Second):
		t.Fatal("RemoveLun did not return after Shutdown")
	}
	// The removal either happened or was undone, and the service's list says which.
	listed := slices.ContainsFunc(svc.LUNs(), func(l target.LUNInfo) bool { return l.ID == 1 })
	switch {
	case removeErr == nil && listed:
		t.Error("RemoveLun succeeded but LUN 1 is still listed")
	case removeErr != nil && !strings.Contains(removeErr.Error(), "nothing was applied"):
		t.Errorf("RemoveLun failed without saying nothing was applied: %v", removeErr)
	case removeErr != nil && !listed:
		t.Errorf("RemoveLun failed (%v) but LUN 1 is gone from the list", removeErr)
	}
	if _, err := svc.RemoveLun(bg, &pb.RemoveLunRequest{Target: targetName, Id: 0, Force: true}); err == nil {
		t.Fatal("a change after Shutdown succeeded")
	}
}

// Reads (luns, status, stats, config show) answer while a change drains a LUN.
func TestAdminReadsDuringChange(t *testing.T) {
	cfg, path := adminConfig(t)
	cfg.Targets[0].Luns = append(cfg.Targets[0].Luns, &pb.Lun{Id: 1, Path: "lun1.img", SizeBytes: lunSize})
	svc := startWith(t, cfg, target.Options{ConfigPath: path})
	s := dial(t, svc.Addrs()[0], initiator.Options{})
	ready(t, s, 1)
	bg := context.Background()
	if _, err := svc.SetFaults(bg, &pb.SetFaultsRequest{Target: targetName, Id: 1,
		Faults: []*pb.Fault{{Op: "read", Kind: "delay", DelayMs: 2000}}}); err != nil {
		t.Fatal(err)
	}
	task := s.Submit(1, read16(0, 1), nil, blockSize)
	time.Sleep(200 * time.Millisecond)
	done := make(chan *pb.RemoveLunResponse, 1)
	go func() {
		r, err := svc.RemoveLun(bg, &pb.RemoveLunRequest{Target: targetName, Id: 1, Force: true})
		if err != nil {
			t.Errorf("RemoveLun: %v", err)
		}
		done <- r
	}()
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	if _, err := svc.ListLuns(bg, &pb.ListLunsRequest{}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Status(bg, &pb.StatusRequest{}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Stats(bg, &pb.StatsRequest{}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.GetConfig(bg, &pb.GetConfigRequest{}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("reads during a removal's drain took %v: they waited for the change", d)
	}
	task.Wait()
	if r := <-done; r != nil && r.DrainedTasks != 1 {
		t.Errorf("lun rm reports %d tasks drained, want 1", r.DrainedTasks)
	}
}

// target rm reports the sessions it logged out and closed (the test initiator does
// not answer the request to log out, so its session is closed after the grace).
func TestAdminRemoveTargetCountsSessions(t *testing.T) {
	cfg, path := adminConfig(t)
	cfg.Targets = append(cfg.Targets, &pb.Target{Name: targetName + "-b", Luns: []*pb.Lun{{Id: 0, Path: "b0.img", SizeBytes: lunSize}}})
	svc := startWith(t, cfg, target.Options{ConfigPath: path})
	s := dial(t, svc.Addrs()[0], initiator.Options{})
	ready(t, s, 0)
	r, err := svc.RemoveTarget(context.Background(), &pb.RemoveTargetRequest{Name: targetName, GraceSeconds: 1})
	if err != nil {
		t.Fatalf("RemoveTarget: %v", err)
	}
	if r.SessionsLoggedOut != 1 || r.SessionsClosed != 1 {
		t.Errorf("target rm reports %d sessions logged out, %d closed; want 1 and 1", r.SessionsLoggedOut, r.SessionsClosed)
	}
}

func hclogNull() hclog.Logger { return hclog.NewNullLogger() }

// noShrink is a memory backend whose store refuses to get smaller.
type noShrink struct{ backend.Backend }

func (n noShrink) Resize(size int64) error {
	if size < n.Size() {
		return errors.New("injected: cannot shrink")
	}
	return n.Backend.(backend.Resizer).Resize(size)
}

// A shrink whose backend resize fails leaves the LUN's capacity, its listing and
// its config as they were, and the error names the field.
func TestAdminFailedShrinkKeepsCapacity(t *testing.T) {
	cfg, path := adminConfig(t)
	cfg.Targets[0].Luns = append(cfg.Targets[0].Luns, &pb.Lun{Id: 1, Backend: "noshrink", SizeBytes: lunSize})
	svc := startWith(t, cfg, target.Options{ConfigPath: path, Backends: map[string]target.BackendFactory{
		"noshrink": func(l *pb.Lun) (backend.Backend, error) { return noShrink{backend.NewMemory(int64(l.SizeBytes))}, nil },
	}})
	s := dial(t, svc.Addrs()[0], initiator.Options{})
	ready(t, s, 1)
	ctx := context.Background()
	_, err := svc.ResizeLun(ctx, &pb.ResizeLunRequest{Target: targetName, Id: 1, SizeBytes: lunSize / 2, Shrink: true})
	if err == nil || !strings.Contains(err.Error(), "sizeBytes") {
		t.Errorf("shrink of a store that cannot shrink: %v, want an error naming sizeBytes", err)
	}
	s.ReadCapacity16(1) // past the unit attentions of the cut and its undoing
	blocks, _, err := s.ReadCapacity16(1)
	if err != nil || blocks != lunSize/blockSize {
		t.Errorf("after the failed shrink the LUN reports %d blocks (%v), want %d", blocks, err, lunSize/blockSize)
	}
	lr, _ := svc.ListLuns(ctx, &pb.ListLunsRequest{})
	for _, l := range lr.GetLuns() {
		if l.Id == 1 && l.SizeBytes != lunSize {
			t.Errorf("luns lists LUN 1 at %d bytes, want %d", l.SizeBytes, lunSize)
		}
	}
	gc, _ := svc.GetConfig(ctx, &pb.GetConfigRequest{})
	for _, l := range gc.GetConfig().Targets[0].Luns {
		if l.Id == 1 && l.SizeBytes != lunSize {
			t.Errorf("config show has LUN 1 at %d bytes, want %d", l.SizeBytes, lunSize)
		}
	}
}
